"""Dead letters, replays and Retry-After end to end: the real wire server, a real HTTP
target on 127.0.0.1, the real clock."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.runtime import get_runtime
from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

NEVER = "0 0 0 1 1 *"  # once a year: only manual runs and replays fire here


def create_job(api: FlaskClient, target: HttpTarget, path: str, **fields: Any) -> str:
    body = {"schedule": NEVER, "endpoint": target.url(path), "retryDelay": 100, **fields}
    job_id = str(created_job(api, **body)["jobId"])
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    return job_id


def dead_letters(api: FlaskClient, job_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/api/dead-letters?jobId={job_id}")
    assert answer.status_code == 200
    return list(answer.get_json()["data"])


def settled_dead_letter(api: FlaskClient, job_id: str, state: str = "dead") -> dict[str, Any]:
    """The job's one dead letter, once it is in ``state`` and the tick is released."""

    def found() -> dict[str, Any] | None:
        letters = dead_letters(api, job_id)
        job = get_runtime(api.application).jobs.get(ObjectId(job_id))
        released = job is None or not job.inflight
        return letters[0] if letters and letters[0]["state"] == state and released else None

    return wait_until(found, 15, message=f"a {state} dead letter")


def history(api: FlaskClient, job_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/api/jobs/{job_id}/executions?limit=100")
    return list(reversed(answer.get_json()["data"]))  # oldest first


def test_a_500_with_two_retries_is_dead_lettered_once_after_three_attempts(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    target.respond("/fail", 500, body="down")
    job_id = create_job(api, target, "/fail", retryAttempts=2,
                        headers={"Authorization": "Bearer s3cret"})  # fmt: skip

    letter = settled_dead_letter(api, job_id)

    requests = target.requests_for("/fail")
    assert len(requests) == 3
    assert {r.header("Idempotency-Key") for r in requests} == {letter["idempotencyKey"]}
    assert (letter["attempts"], letter["reason"]) == (3, "retries_exhausted")
    assert letter["lastAttempt"]["responseCode"] == 500
    assert letter["lastAttempt"]["responseBody"] == "down"
    assert letter["request"]["url"] == target.url("/fail")
    assert letter["request"]["headers"]["Authorization"] == "Bearer ***"
    assert [e["deadLettered"] for e in history(api, job_id)] == [False, False, True]
    assert wire_db.dead_letters.count_documents({}) == 1
    stats = api.get("/api/observability/stats").get_json()["data"]["deadLetters"]
    assert stats == {"total": 1, "dead": 1}


def test_a_400_is_dead_lettered_after_one_attempt(api: FlaskClient, target: HttpTarget) -> None:
    target.respond("/bad", 400)
    job_id = create_job(api, target, "/bad", retryAttempts=3)
    letter = settled_dead_letter(api, job_id)
    assert len(target.requests_for("/bad")) == 1
    assert (letter["attempts"], letter["reason"]) == (1, "not_retried")


def test_a_replay_after_the_fix_delivers_the_same_tick_and_marks_it_replayed(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond("/flaky", 503)
    job_id = create_job(api, target, "/flaky", retryAttempts=1)
    letter = settled_dead_letter(api, job_id)
    target.respond("/fixed", 200)
    fixed = api.put(f"/api/jobs/{job_id}", json={"endpoint": target.url("/fixed")})
    assert fixed.status_code == 200

    answer = api.post(f"/api/dead-letters/{letter['deadLetterId']}/replay")
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["data"]["state"] == "replaying"
    replayed = settled_dead_letter(api, job_id, "replayed")

    [delivery] = target.requests_for("/fixed")
    first = target.requests_for("/flaky")[0]
    assert delivery.header("Idempotency-Key") == first.header("Idempotency-Key")
    assert delivery.header("X-Scheduler-Scheduled-At") == first.header("X-Scheduler-Scheduled-At")
    assert delivery.header("X-Scheduler-Attempt") == "3"
    assert (replayed["attempts"], replayed["lastAttempt"]["status"]) == (3, "success")
    assert [(e["attempt"], e["status"]) for e in history(api, job_id)] == [
        (1, "failure"), (2, "failure"), (3, "success")]  # fmt: skip
    again = api.post(f"/api/dead-letters/{letter['deadLetterId']}/replay")
    assert again.status_code == 409


def test_a_dead_letter_cannot_be_deleted_while_its_replay_is_in_flight(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    target.respond("/down", 500)
    job_id = create_job(api, target, "/down", retryAttempts=0)
    letter = settled_dead_letter(api, job_id)
    target.respond("/slow", 200, delay_s=1.0)  # the replay's attempt takes a second
    assert api.put(f"/api/jobs/{job_id}", json={"endpoint": target.url("/slow")}).status_code == 200
    item = f"/api/dead-letters/{letter['deadLetterId']}"
    assert api.post(f"{item}/replay").status_code == 202

    busy = api.delete(item)

    assert busy.status_code == 409, busy.get_json()
    assert busy.get_json()["error"]["code"] == "CONFLICT"
    settled_dead_letter(api, job_id, "replayed")  # the replay wrote its outcome to it
    assert api.delete(item).status_code == 200
    assert wire_db.dead_letters.count_documents({}) == 0


def test_a_replay_of_a_deleted_jobs_dead_letter_is_a_409(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    target.respond("/gone", 404)
    job_id = create_job(api, target, "/gone", retryAttempts=0)
    letter = settled_dead_letter(api, job_id)
    assert api.delete(f"/api/jobs/{job_id}").status_code == 200

    answer = api.post(f"/api/dead-letters/{letter['deadLetterId']}/replay")

    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "CONFLICT"
    assert wire_db.dead_letters.find_one()["state"] == "dead"
    too_many = api.post("/api/dead-letters/replay",
                        json={"ids": [letter["deadLetterId"]] * 1001})  # fmt: skip
    assert too_many.status_code == 400
    assert wire_db.dead_letters.find_one()["state"] == "dead"


def test_retry_after_delays_the_next_attempt_and_the_history_shows_it(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond("/busy", 429, headers={"Retry-After": "2"})
    job_id = create_job(api, target, "/busy", retryAttempts=2)
    target.wait_for_requests("/busy", 1, timeout_s=10)
    target.respond("/busy", 200)

    first, second = target.wait_for_requests("/busy", 2, timeout_s=10)

    assert second.monotonic - first.monotonic >= 2.0
    rows = wait_until(lambda: (rows := history(api, job_id)) and len(rows) == 2
                      and rows[1]["status"] == "success" and rows, 10)  # fmt: skip
    assert rows[0]["nextRetryDelay"] == 2000  # not the 100 ms backoff
    assert rows[1]["nextRetryDelay"] is None
    assert dead_letters(api, job_id) == []
