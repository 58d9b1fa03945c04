from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta, timezone

from scheduler_service.delivery.payload import (
    chain_key,
    idempotency_key,
    outgoing_headers,
    render_body,
)

TICK = datetime(2024, 1, 1, 12, 5, 0, 123000, tzinfo=UTC)
STAMP = "2024-01-01T12:05:00.123Z"


def test_timestamp_is_replaced_in_strings_at_any_depth() -> None:
    body = {
        "at": "{{timestamp}}",
        "text": "fired at {{timestamp}} (again {{timestamp}})",
        "nested": {"list": ["{{timestamp}}", 1, {"deep": "{{timestamp}}"}]},
    }
    assert render_body(body, TICK) == {
        "at": STAMP,
        "text": f"fired at {STAMP} (again {STAMP})",
        "nested": {"list": [STAMP, 1, {"deep": STAMP}]},
    }


def test_keys_and_non_string_leaves_are_unchanged() -> None:
    body = {"{{timestamp}}": 1, "n": 2.5, "ok": True, "none": None, "list": [False, 0]}
    assert render_body(body, TICK) == body


def test_scalar_and_null_bodies() -> None:
    assert render_body(None, TICK) is None
    assert render_body("{{timestamp}}", TICK) == STAMP
    assert render_body(42, TICK) == 42
    assert render_body(["{{timestamp}}"], TICK) == [STAMP]


def test_input_is_not_mutated_and_the_result_shares_nothing() -> None:
    body = {"a": ["{{timestamp}}", {"b": "x"}]}
    original = copy.deepcopy(body)
    rendered = render_body(body, TICK)
    rendered["a"][1]["b"] = "changed"
    assert body == original


def test_timestamp_is_rendered_in_utc_from_any_zone() -> None:
    tick = TICK.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert render_body("{{timestamp}}", tick) == STAMP


def test_idempotency_key_is_a_stable_uuid_per_tick() -> None:
    key = idempotency_key("65a1b2c3d4e5f60718293a4b", TICK)
    assert uuid.UUID(key).version == 5
    assert key == idempotency_key("65a1b2c3d4e5f60718293a4b", TICK)
    # the same instant seen in another zone is the same tick
    assert key == idempotency_key("65a1b2c3d4e5f60718293a4b", TICK.astimezone(UTC))


def test_idempotency_key_differs_between_ticks_and_jobs() -> None:
    keys = {
        idempotency_key("65a1b2c3d4e5f60718293a4b", TICK),
        idempotency_key("65a1b2c3d4e5f60718293a4b", TICK + timedelta(seconds=1)),
        idempotency_key("65a1b2c3d4e5f60718293a4c", TICK),
    }
    assert len(keys) == 3


def test_outgoing_headers_add_the_tick_identity() -> None:
    headers = outgoing_headers({"X-Custom": "yes"}, job_id="job1", scheduled_at=TICK, attempt=2)
    assert headers == {
        "X-Custom": "yes",
        "Idempotency-Key": idempotency_key("job1", TICK),
        "X-Scheduler-Job-Id": "job1",
        "X-Scheduler-Scheduled-At": STAMP,
        "X-Scheduler-Attempt": "2",
    }


def test_ours_override_a_job_header_of_the_same_name_in_any_case() -> None:
    job_headers = {"idempotency-key": "mine", "X-SCHEDULER-ATTEMPT": "9", "Authorization": "t"}
    headers = outgoing_headers(job_headers, job_id="job1", scheduled_at=TICK, attempt=1)
    lowered = [name.lower() for name in headers]
    assert len(lowered) == len(set(lowered))
    assert headers["Idempotency-Key"] == idempotency_key("job1", TICK)
    assert headers["X-Scheduler-Attempt"] == "1"
    assert headers["Authorization"] == "t"


def test_the_key_is_the_same_for_every_attempt_of_a_tick() -> None:
    first = outgoing_headers({}, job_id="job1", scheduled_at=TICK, attempt=1)
    third = outgoing_headers({}, job_id="job1", scheduled_at=TICK, attempt=3)
    assert first["Idempotency-Key"] == third["Idempotency-Key"]


def test_job_headers_are_not_mutated() -> None:
    job_headers = {"X-Custom": "yes"}
    outgoing_headers(job_headers, job_id="job1", scheduled_at=TICK, attempt=1)
    assert job_headers == {"X-Custom": "yes"}


PARENT = {"jobId": "6b0bf5cc400964adc923e083", "scheduledAt": "2024-01-01T12:00:00.000Z",
          "status": "success", "responseCode": 201, "responseBody": '{"id": 7}'}  # fmt: skip


def test_a_parent_placeholder_that_is_a_whole_string_becomes_its_json_value() -> None:
    body = {"job": "{{parent.jobId}}", "at": "{{parent.scheduledAt}}",
            "status": "{{parent.status}}", "code": "{{parent.responseCode}}",
            "body": "{{parent.responseBody}}", "list": ["{{parent.responseCode}}"]}  # fmt: skip
    assert render_body(body, TICK, PARENT) == {
        "job": PARENT["jobId"], "at": PARENT["scheduledAt"], "status": "success",
        "code": 201, "body": '{"id": 7}', "list": [201],
    }  # fmt: skip
    missing = {**PARENT, "responseCode": None, "responseBody": None}
    assert render_body(["{{parent.responseCode}}", "{{parent.responseBody}}"], TICK,
                       missing) == [None, None]  # fmt: skip


def test_a_parent_placeholder_inside_a_string_becomes_its_text_and_null_nothing() -> None:
    body = "{{parent.status}}: {{parent.responseCode}} {{parent.responseBody}} @{{timestamp}}"
    assert render_body(body, TICK, PARENT) == f'success: 201 {{"id": 7}} @{STAMP}'
    assert render_body(" {{parent.responseCode}}", TICK, {**PARENT, "responseCode": None}) == " "


def test_text_put_in_is_not_rendered_again() -> None:
    parent = {**PARENT, "responseBody": "{{timestamp}} {{parent.status}}"}
    assert render_body(["{{parent.responseBody}}", "<{{parent.responseBody}}>"], TICK,
                       parent) == ["{{timestamp}} {{parent.status}}",
                                   "<{{timestamp}} {{parent.status}}>"]  # fmt: skip


def test_parent_placeholders_outside_a_chained_run_are_left_as_written() -> None:
    body = {"code": "{{parent.responseCode}}", "text": "{{parent.status}} {{timestamp}}",
            "other": "{{parent.unknown}}"}  # fmt: skip
    assert render_body(body, TICK) == {"code": "{{parent.responseCode}}",
                                       "text": f"{{{{parent.status}}}} {STAMP}",
                                       "other": "{{parent.unknown}}"}  # fmt: skip
    assert render_body(body, TICK, PARENT)["other"] == "{{parent.unknown}}"


def test_a_chain_key_depends_on_child_list_parent_and_tick_only() -> None:
    key = chain_key("a" * 24, "onSuccess", "b" * 24, TICK)
    assert key == chain_key("a" * 24, "onSuccess", "b" * 24, TICK)
    others = {chain_key("c" * 24, "onSuccess", "b" * 24, TICK),
              chain_key("a" * 24, "onFailure", "b" * 24, TICK),
              chain_key("a" * 24, "onSuccess", "c" * 24, TICK),
              chain_key("a" * 24, "onSuccess", "b" * 24, TICK + timedelta(seconds=1)),
              idempotency_key("a" * 24, TICK)}  # fmt: skip
    assert key not in others and len(others) == 5
    assert uuid.UUID(key).version == 5
