"""Settlement: retries, dead letters and replays, and the settlement of an orphan from its
record. (mongomock, single-threaded, fake attempts; the wire tests use a real target.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.scheduler.settlement import ORPHAN_MESSAGE
from tests.support.dead_letters import add_dead_letter
from tests.support.settling import (
    OK,
    FakeTarget,
    create_job,
    due_entries,
    failure,
    run_now,
    run_until_settled,
)
from tests.support.workers import candidate, make_worker


def history(database: Database, job_id: ObjectId) -> list[tuple[int, str, Any, bool]]:
    return [(e["attempt"], e["status"], e["nextRetryDelay"], e["deadLettered"])
            for e in database.job_executions.find({"jobId": job_id}, sort=[("attempt", 1)])]


def test_the_last_allowed_failure_dead_letters_the_tick_once(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, failure(500))
    job_id = create_job(app, retryAttempts=2, headers={"Authorization": "Bearer s3cret"})
    run_now(app, job_id)
    run_until_settled(app, job_id, clock)

    assert len(target.requests) == 3
    assert history(database, job_id) == [(1, "failure", 1000, False),
                                         (2, "failure", 2000, False),
                                         (3, "failure", None, True)]  # fmt: skip
    [letter] = database.dead_letters.find()
    assert (letter["attempts"], letter["reason"], letter["state"]) == (3, "retries_exhausted",
                                                                       "dead")  # fmt: skip
    assert letter["lastAttempt"]["responseCode"] == 500
    assert letter["request"]["headers"]["Authorization"] == "Bearer ***"
    assert letter["idempotencyKey"] == target.requests[0].headers["Idempotency-Key"]
    assert letter["alert"]["state"] == "none"  # no ALERT_WEBHOOK_URL, no alertEndpoint


def test_a_failure_that_is_not_retried_is_dead_lettered_at_once(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTarget(monkeypatch, failure(400))
    job_id = create_job(app, retryAttempts=3)
    run_now(app, job_id)
    run_until_settled(app, job_id, clock)
    assert history(database, job_id) == [(1, "failure", None, True)]
    [letter] = database.dead_letters.find()
    assert (letter["attempts"], letter["reason"]) == (1, "not_retried")


def test_retry_after_sets_the_next_delay_within_the_jobs_cap(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTarget(monkeypatch, failure(429, retry_after_ms=5000), failure(503, 999_999), OK)
    job_id = create_job(app, retryAttempts=3, retryDelayMax=60_000)
    run_now(app, job_id)
    run_until_settled(app, job_id, clock)
    assert history(database, job_id) == [(1, "failure", 5000, False),
                                         (2, "failure", 60_000, False),
                                         (3, "success", None, False)]  # fmt: skip
    assert database.dead_letters.count_documents({}) == 0


def test_a_replay_delivers_the_same_tick_and_counts_its_retries_afresh(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, failure(500))
    job_id = create_job(app, retryAttempts=1)
    run_now(app, job_id)
    run_until_settled(app, job_id, clock)
    [letter] = database.dead_letters.find()
    client = app.test_client()

    assert client.post(f"/api/dead-letters/{letter['_id']}/replay").status_code == 202
    run_until_settled(app, job_id, clock)  # attempts 3 and 4 fail: replay_failed
    failed = database.dead_letters.find_one()
    assert (failed["state"], failed["attempts"]) == ("replay_failed", 4)
    target.outcomes = [OK]
    assert client.post(f"/api/dead-letters/{letter['_id']}/replay").status_code == 202
    run_until_settled(app, job_id, clock)

    replayed = database.dead_letters.find_one()
    assert (replayed["state"], replayed["attempts"]) == ("replayed", 5)
    assert database.dead_letters.count_documents({}) == 1
    keys = {request.headers["Idempotency-Key"] for request in target.requests}
    stamps = {request.headers["X-Scheduler-Scheduled-At"] for request in target.requests}
    assert len(keys) == len(stamps) == 1
    assert [r.headers["X-Scheduler-Attempt"] for r in target.requests] == ["1", "2", "3", "4",
                                                                           "5"]  # fmt: skip


def orphan(database: Database, job_id: ObjectId, clock: FixedClock,
           record: dict[str, Any] | None) -> None:  # fmt: skip
    """The job's tick as a process left it when it died: its entry running with an expired
    lease, and (if given) the record of its attempt 2."""
    tick = clock.now()
    entry = {"id": ObjectId(), "scheduledAt": tick, "attempt": 2, "state": "running",
             "dueAt": tick + timedelta(seconds=60), "owner": "dead", "manual": True,
             "startedAt": tick}  # fmt: skip
    database.jobs.update_one({"_id": job_id}, {"$push": {"inflight": entry}})
    if record is not None:
        database.job_executions.insert_one({
            "jobId": job_id, "scheduledAt": tick, "attempt": 2, "startedAt": tick,
            "completedAt": tick, "responseCode": 500, "errorMessage": "HTTP 500", **record,
        })  # fmt: skip
    clock.set(entry["dueAt"] + timedelta(seconds=1))


@pytest.mark.parametrize("wrote_dead_letter", [False, True])
def test_a_process_that_died_after_recording_a_final_failure_yields_one_dead_letter(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
    wrote_dead_letter: bool,
) -> None:  # fmt: skip
    target = FakeTarget(monkeypatch, OK)
    job_id = create_job(app, retryAttempts=1)
    tick = clock.now()
    orphan(database, job_id, clock, {"status": "failure", "deadLettered": True})
    if wrote_dead_letter:  # it died between the dead letter and the release
        add_dead_letter(database, job_id, tick, attempts=2)

    run_until_settled(app, job_id, clock)

    assert target.requests == []  # settled from its record: not re-run
    [letter] = database.dead_letters.find()
    assert (letter["attempts"], letter["scheduledAt"]) == (2, tick)
    assert letter["reason"] == "retries_exhausted"


def test_a_process_that_died_after_recording_a_retry_leaves_that_retry(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTarget(monkeypatch, OK)
    job_id = create_job(app, retryAttempts=3)
    orphan(database, job_id, clock, {"status": "failure", "nextRetryDelay": 4000})
    recorded_at = database.job_executions.find_one()["completedAt"]

    worker = make_worker(app)
    [entry] = due_entries(database, job_id)
    worker.run(candidate(database.jobs.find_one({"_id": job_id}), entry))

    [waiting] = due_entries(database, job_id)
    assert (waiting["state"], waiting["attempt"]) == ("waiting", 3)
    assert waiting["dueAt"] == recorded_at + timedelta(milliseconds=4000)


def test_an_at_most_once_attempt_whose_process_died_is_dead_lettered_as_abandoned(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, OK)
    job_id = create_job(app, executionType="AT_MOST_ONCE")
    orphan(database, job_id, clock, None)

    run_until_settled(app, job_id, clock)

    assert target.requests == []
    [record] = database.job_executions.find()
    assert record["errorMessage"] == ORPHAN_MESSAGE
    [letter] = database.dead_letters.find()
    assert letter["reason"] == "abandoned"
    assert letter["lastAttempt"]["errorMessage"] == ORPHAN_MESSAGE
