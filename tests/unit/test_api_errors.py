"""Every failure is the contract's JSON: bad input, wrong routes, oversize, database down, bugs."""

from __future__ import annotations

import io
import logging
from typing import Any

import mongomock
import pytest
from flask.testing import FlaskClient
from pymongo import _csot
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime

VALID = {"schedule": "0 */5 * * * *", "endpoint": "https://api.example.com/webhook"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


BAD_JOBS = [
    ({}, {"schedule", "endpoint"}),
    ({"endpoint": VALID["endpoint"]}, {"schedule"}),
    ({**VALID, "unknown": 1}, {"unknown"}),
    ({**VALID, "schedule": "every five minutes"}, {"schedule"}),
    ({**VALID, "schedule": "0 0 0 30 2 *"}, {"schedule"}),
    ({**VALID, "schedule": "* * *"}, {"schedule"}),
    ({**VALID, "schedule": 5}, {"schedule"}),
    ({**VALID, "endpoint": "ftp://example.com/file"}, {"endpoint"}),
    ({**VALID, "endpoint": "not a url"}, {"endpoint"}),
    ({**VALID, "endpoint": "/relative/path"}, {"endpoint"}),
    ({**VALID, "method": "FETCH"}, {"method"}),
    ({**VALID, "headers": ["Authorization", "x"]}, {"headers"}),
    ({**VALID, "headers": "Authorization: x"}, {"headers"}),
    ({**VALID, "headers": {"X-Count": 1}}, {"headers"}),
    ({**VALID, "headers": {"X-Nested": {"a": "b"}}}, {"headers"}),
    ({**VALID, "retryAttempts": 11}, {"retryAttempts"}),
    ({**VALID, "retryAttempts": -1}, {"retryAttempts"}),
    ({**VALID, "retryAttempts": "3"}, {"retryAttempts"}),
    ({**VALID, "retryAttempts": True}, {"retryAttempts"}),
    ({**VALID, "retryAttempts": 2.5}, {"retryAttempts"}),
    ({**VALID, "retryDelay": 3_600_001}, {"retryDelay"}),
    ({**VALID, "executionType": "EXACTLY_ONCE"}, {"executionType"}),
    ({**VALID, "enabled": "yes"}, {"enabled"}),
]


@pytest.mark.parametrize(("payload", "fields"), BAD_JOBS)
def test_bad_job_is_a_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, mongo_db: Database, payload: dict[str, Any], fields: set[str]
) -> None:
    before = mongo_db["jobs"].count_documents({})
    error = assert_error(client.post("/api/jobs", json=payload), 400, "VALIDATION_ERROR")
    assert set(error["details"]) == fields
    assert all(isinstance(messages, list | dict) for messages in error["details"].values())
    assert mongo_db["jobs"].count_documents({}) == before


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [(b"{not json", "Malformed JSON"), (b"", "empty"), (b'{"a": NaN}', "NaN"),
     (b'{"a": 1e400}', "out of range"), (b'{"a": 99999999999999999999}', "64 bits"),
     (b"\xff\xfe{", "Malformed JSON"), (b'{"a\\u0000": 1}', "NUL"),
     (b"[" * 5000 + b"]" * 5000, "nested"), (b'{"a":' * 80 + b"1" + b"}" * 80, "nested")],
)  # fmt: skip
def test_malformed_json_is_a_400_saying_why(
    client: FlaskClient, mongo_db: Database, raw: bytes, fragment: str
) -> None:
    response = client.post("/api/jobs", data=raw, content_type="application/json")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert fragment in error["message"]
    assert mongo_db["jobs"].count_documents({}) == 0


@pytest.mark.parametrize("raw", [b"[]", b'[{"schedule": "* * * * *"}]', b"42", b'"job"', b"null"])
def test_a_json_value_that_is_not_an_object_is_a_400(client: FlaskClient, raw: bytes) -> None:
    response = client.post("/api/jobs", data=raw, content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_charset_parameter_is_accepted(client: FlaskClient) -> None:
    import json

    response = client.post(
        "/api/jobs", data=json.dumps(VALID), content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(
    client: FlaskClient, mongo_db: Database, content_type: str | None
) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/api/jobs", data='{"schedule": "x"}', **kwargs)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    job_id = mongo_db["jobs"].insert_one({"schedule": "x"}).inserted_id
    assert_error(client.put(f"/api/jobs/{job_id}", data="{}", **kwargs), 415,
                 "UNSUPPORTED_MEDIA_TYPE")  # fmt: skip


@pytest.fixture
def small_client(mongo_db: Database, clock: FixedClock) -> FlaskClient:
    config = Config(scheduler_enabled=False, max_request_bytes=1024)
    return create_app(open_runtime(config, database=mongo_db, clock=clock)).test_client()


def test_oversize_body_is_413(small_client: FlaskClient, mongo_db: Database) -> None:
    body = b'{"schedule": "' + b"x" * 2000 + b'"}'
    response = small_client.post("/api/jobs", data=body, content_type="application/json")
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"maxBytes": 1024}
    # Even on a route whose body is optional (none, or {}), and whatever the Content-Type.
    response = small_client.post("/api/jobs/0123456789abcdef01234567/run", data=body)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert mongo_db["jobs"].count_documents({}) == 0


@pytest.mark.parametrize(("size", "status"), [(1024, 400), (1025, 413), (50_000, 413)])
def test_chunked_body_without_content_length_is_capped_too(
    small_client: FlaskClient, size: int, status: int
) -> None:
    body = b'{"body": "' + b"x" * (size - 12) + b'"}'
    assert len(body) == size
    response = small_client.post(
        "/api/jobs",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(response, status, "PAYLOAD_TOO_LARGE" if status == 413 else "VALIDATION_ERROR")


# "/" redirects to the dashboard (tests/unit/test_ui.py).
@pytest.mark.parametrize("path", ["/nope", "/api", "/api/jobs/", "/api/jobs/a/b/c",
                                  "/api/observability/nope", "/static/x.css",
                                  "/api/jobs//executions",
                                  "/api//observability/health"])  # fmt: skip
def test_unknown_route_is_404_json(client: FlaskClient, path: str) -> None:
    error = assert_error(client.get(path), 404, "NOT_FOUND")
    assert path in error["message"]


@pytest.mark.parametrize("path", ["//api/jobs", "///api/observability/health", "//api/jobs/",
                                  "//api//jobs", "/api/jobs//"])  # fmt: skip
def test_leading_doubled_slashes_are_404_json_too(client: FlaskClient, path: str) -> None:
    """Werkzeug strips leading slashes before matching: ``//api/jobs`` matched /api/jobs.
    (The test client would read ``//api`` as a host, so the path is given as the server
    gives it.)"""
    response = client.get("/", environ_overrides={"PATH_INFO": path})
    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("patch", "/api/jobs", {"GET", "POST"}), ("delete", "/api/jobs", {"GET", "POST"}),
     ("post", "/api/observability/health", {"GET"}),
     ("get", "/api/jobs/0123456789abcdef01234567/run", {"POST"})],
)  # fmt: skip
def test_wrong_method_is_405_json_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(path)
    error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert allowed <= set(error["details"]["allowed"])


def test_unexpected_exception_is_500_without_details(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(get_runtime(client.application).job_service, "page", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/jobs")

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["details"] == {}
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(
    "exc",
    [ServerSelectionTimeoutError("no servers"), AutoReconnect("connection reset"),
     NetworkTimeout("timed out"), ExecutionTimeout("operation exceeded time limit", 50)],
)  # fmt: skip
def test_database_down_or_hung_is_503_unavailable(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    service = get_runtime(client.application).job_service
    monkeypatch.setattr(service, "page", fail)
    monkeypatch.setattr(service, "create", fail)
    error = assert_error(client.get("/api/jobs"), 503, "UNAVAILABLE")
    assert error["message"] == "database unavailable"
    assert_error(client.post("/api/jobs", json=VALID), 503, "UNAVAILABLE")


def test_other_database_errors_are_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any) -> Any:
        raise OperationFailure("not authorized on job_scheduler", 13)

    monkeypatch.setattr(get_runtime(client.application).job_service, "page", fail)
    response = client.get("/api/jobs")
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "authorized" not in response.get_data(as_text=True)


def test_every_request_runs_under_the_database_deadline(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = get_runtime(client.application).job_service
    seen: list[float | None] = []
    original = service.page

    def spy(*args: Any) -> Any:
        seen.append(_csot.get_timeout())
        return original(*args)

    monkeypatch.setattr(service, "page", spy)
    assert client.get("/api/jobs").status_code == 200
    assert seen == [pytest.approx(4.0)]  # Config.db_timeout_ms default
    assert _csot.get_timeout() is None  # left in teardown


def test_deadline_is_released_after_an_error_too(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.post("/api/jobs", data="x", content_type="text/plain").status_code == 415
    assert _csot.get_timeout() is None


def test_handlers_apply_with_testing_mode_on() -> None:
    """TESTING propagates unhandled exceptions; ours are all handled, so still JSON."""
    database = mongomock.MongoClient()["t"]
    app = create_app(open_runtime(Config(scheduler_enabled=False), database=database))
    app.testing = True

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("internal")

    client = app.test_client()
    assert_error(client.get("/nope"), 404, "NOT_FOUND")
    assert_error(client.get("/boom"), 500, "INTERNAL_ERROR")
