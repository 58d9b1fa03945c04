"""Job create and update validation (``schemas/jobs.py``) and ``load_or_raise``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from scheduler_service.errors import InvalidInput
from scheduler_service.schemas import JobCreateSchema, JobUpdateSchema, load_or_raise

VALID = {"schedule": "0 */5 * * * *", "endpoint": "https://api.example.com/hook"}


def create_errors(**overrides: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        JobCreateSchema().load({**VALID, **overrides})
    assert isinstance(info.value.messages, dict)
    return info.value.messages


def test_create_applies_defaults_and_no_retry_defaults() -> None:
    assert JobCreateSchema().load(VALID) == {
        **VALID,
        "method": "POST",
        "headers": {},
        "body": None,
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "timezone": "UTC",
        "priority": 5,
    }


def test_create_normalizes() -> None:
    loaded = JobCreateSchema().load({**VALID, "schedule": "  */15  * * * * ", "method": "patch"})
    assert loaded["schedule"] == "*/15 * * * *"
    assert loaded["method"] == "PATCH"


def test_create_accepts_every_field() -> None:
    full = {
        **VALID,
        "method": "DELETE",
        "headers": {"Authorization": "Bearer x", "X-Trace": ""},
        "body": [1, {"a": None}],
        "executionType": "AT_MOST_ONCE",
        "enabled": False,
        "retryAttempts": 10,
        "retryDelay": 3_600_000,
        "concurrencyPolicy": "ALLOW",
        "missedRunPolicy": "RUN_ALL",
        "timezone": "America/New_York",
        "jitterMs": 3_600_000,
        "name": "n" * 200,
        "description": "d" * 2000,
        "tags": [f"t.{i}:x-y_z" for i in range(20)],
        "priority": 10,
    }
    assert JobCreateSchema().load(full) == full


def test_create_takes_a_window_and_one_offs() -> None:
    loaded = JobCreateSchema().load({**VALID, "startAt": "2026-01-01T00:00:00+01:00",
                                     "endAt": "2026-02-01T00:00:00.123456Z"})  # fmt: skip
    assert loaded["startAt"] == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert loaded["endAt"] == datetime(2026, 2, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    one_off = {"endpoint": VALID["endpoint"], "runAt": "2026-01-01T09:00:00Z"}
    assert JobCreateSchema().load(one_off)["runAt"] == datetime(2026, 1, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"runAt": "2026-01-01T09:00:00Z"}, {"schedule", "runAt"}),  # both
        ({"schedule": None, "runAt": None}, {"schedule"}),  # neither: schedule is missing
        ({"startAt": "2026-01-02T00:00:00Z", "endAt": "2026-01-01T00:00:00Z"}, {"endAt"}),
        ({"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-01-01T00:00:00Z"}, {"endAt"}),
        ({"schedule": None, "runAt": "2026-01-01T09:00:00Z", "endAt": "2026-01-02T00:00:00Z"},
         {"endAt"}),
    ],
)  # fmt: skip
def test_create_window_rules(payload: dict[str, Any], fields: set[str]) -> None:
    body = {**VALID, **payload}
    if body.get("schedule") is None:
        body.pop("schedule")
    if "runAt" in body and body["runAt"] is None:
        body.pop("runAt")
    assert set(_errors(body)) == fields


def _errors(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        JobCreateSchema().load(body)
    assert isinstance(info.value.messages, dict)
    return info.value.messages


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost:8080/hook",
        "http://127.0.0.1/x?y=1",
        "http://[::1]:9000/",
        "https://internal-service/path",
        "HTTPS://Example.COM",
    ],
)
def test_endpoint_accepted(endpoint: str) -> None:
    assert JobCreateSchema().load({**VALID, "endpoint": endpoint})["endpoint"] == endpoint


@pytest.mark.parametrize("body", [None, 0, "text", ["a"], {"k": {"n": [1, 2]}}, True])
def test_body_any_json(body: Any) -> None:
    assert JobCreateSchema().load({**VALID, "body": body})["body"] == body


BAD_FIELDS = [
    ("schedule", None),
    ("schedule", 5),
    ("schedule", ""),
    ("schedule", "61 * * * * *"),
    ("schedule", "* * * * * * *"),
    ("schedule", "0 0 0 30 2 *"),
    ("endpoint", None),
    ("endpoint", ""),
    ("endpoint", "/relative/path"),
    ("endpoint", "ftp://example.com/file"),
    ("endpoint", "example.com"),
    ("endpoint", "http://"),
    ("endpoint", "http://exa mple.com"),
    ("endpoint", "http://example.com:99999/"),
    ("endpoint", "http://example.com/\x7f"),
    ("endpoint", "https://example.com/" + "a" * 2048),
    ("endpoint", 42),
    ("method", "HEAD"),
    ("method", "OPTIONS"),
    ("method", None),
    ("method", 1),
    ("headers", None),
    ("headers", []),
    ("headers", "Authorization: x"),
    ("headers", {"X-Num": 1}),
    ("headers", {"X-Null": None}),
    ("headers", {"Bad Name": "v"}),
    ("headers", {"": "v"}),
    ("headers", {"X-A": "a\r\nInjected: 1"}),
    ("headers", {"X-A": "a\nb"}),
    ("headers", {"X-A": "a\x00b"}),
    ("headers", {"X-A": "\u20ac"}),
    ("headers", {"X-A": "v" * (8 * 1024 + 1)}),
    ("headers", {f"X-H{i}": "v" for i in range(51)}),
    ("executionType", "EXACTLY_ONCE"),
    ("executionType", "at_least_once"),
    ("executionType", None),
    ("enabled", "true"),
    ("enabled", 1),
    ("enabled", 0),
    ("enabled", None),
    ("retryAttempts", True),
    ("retryAttempts", 2.5),
    ("retryAttempts", 2.0),
    ("retryAttempts", "3"),
    ("retryAttempts", -1),
    ("retryAttempts", 11),
    ("retryAttempts", None),
    ("retryDelay", False),
    ("retryDelay", 1.5),
    ("retryDelay", "1000"),
    ("retryDelay", -1),
    ("retryDelay", 3_600_001),
    ("concurrencyPolicy", "REPLACE"),
    ("concurrencyPolicy", None),
    ("missedRunPolicy", "LATER"),
    ("missedRunPolicy", None),
    ("timezone", "Mars/Olympus"),
    ("timezone", "america/new_york"),
    ("timezone", None),
    ("timezone", 5),
    ("jitterMs", -1),
    ("jitterMs", 3_600_001),
    ("jitterMs", "5"),
    ("startAt", "tomorrow"),
    ("startAt", "2026-01-01T00:00:00"),  # no offset
    ("endAt", "3000-01-01T00:00:00Z"),
    ("runAt", 1767225600),
    ("name", ""),
    ("name", "n" * 201),
    ("name", None),
    ("description", "d" * 2001),
    ("tags", ["has space"]),
    ("tags", [""]),
    ("tags", ["t" * 65]),
    ("tags", ["ok", "caf\u00e9"]),
    ("tags", [f"t{i}" for i in range(21)]),
    ("tags", "billing"),
    ("tags", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_create_rejects_field(field: str, value: Any) -> None:
    assert list(create_errors(**{field: value})) == [field]


# An update may set schedule (or runAt) to null, to switch a job between the two.
@pytest.mark.parametrize(("field", "value"), [bad for bad in BAD_FIELDS
                                              if bad != ("schedule", None)])  # fmt: skip
def test_update_rejects_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        JobUpdateSchema().load({field: value})
    assert list(info.value.messages) == [field]


@pytest.mark.parametrize("missing", ["schedule", "endpoint"])
def test_create_requires(missing: str) -> None:
    payload = dict(VALID)
    del payload[missing]
    with pytest.raises(ValidationError) as info:
        JobCreateSchema().load(payload)
    message = "Missing data for required field."
    if missing == "schedule":
        message = "Missing data for required field (or give runAt for a one-off)."
    assert info.value.messages == {missing: [message]}


def test_unknown_fields_rejected() -> None:
    assert create_errors(jobId="x", nextRunAt=None) == {
        "jobId": ["Unknown field."],
        "nextRunAt": ["Unknown field."],
    }


def test_header_errors_are_nested_under_the_header() -> None:
    errors = create_errors(headers={"Bad Name": "v", "X-Ok": "v", "X-Crlf": "a\rb"})
    assert set(errors["headers"]) == {"Bad Name", "X-Crlf"}
    assert "key" in errors["headers"]["Bad Name"]
    assert "value" in errors["headers"]["X-Crlf"]


def test_update_has_no_defaults() -> None:
    assert JobUpdateSchema().load({"enabled": False}) == {"enabled": False}
    assert JobUpdateSchema().load({"body": None}) == {"body": None}
    assert JobUpdateSchema().load({"method": "put", "schedule": " * * * * * "}) == {
        "method": "PUT",
        "schedule": "* * * * *",
    }


def test_update_rejects_empty_object() -> None:
    with pytest.raises(ValidationError) as info:
        JobUpdateSchema().load({})
    assert info.value.messages == {"_schema": ["At least one field is required."]}


def test_load_or_raise() -> None:
    assert load_or_raise(JobUpdateSchema(), {"enabled": True}) == {"enabled": True}
    with pytest.raises(InvalidInput) as info:
        load_or_raise(JobCreateSchema(), {**VALID, "retryAttempts": 11})
    assert info.value.message == "Invalid request: check retryAttempts"
    assert list(info.value.details) == ["retryAttempts"]


@pytest.mark.parametrize("data", [[VALID], "text", 3, None])
def test_load_or_raise_rejects_non_objects(data: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        load_or_raise(JobCreateSchema(), data)
    assert info.value.details == {"_schema": ["Expected a JSON object"]}
