"""An expired lease: the tick is re-run (same key, next attempt number) unless its
execution record says the attempt succeeded, i.e. the process died after writing the
result and before releasing the tick. (mongomock, single-threaded, fake attempts.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from scheduler_service.clock import FixedClock
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.records import Entry, Job
from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler import executor as executor_module
from scheduler_service.scheduler.claimer import ORPHAN_MESSAGE, Claim
from tests.support.workers import candidate, make_worker

OK = AttemptOutcome(True, 200, "ok", False, None, False, duration_ms=3)


def orphaned_tick(app: Flask, clock: FixedClock, recorded: str) -> dict[str, Any]:
    """A job whose tick a dead process claimed and whose attempt it recorded as
    ``recorded``; the lease has run out. Returns the stored job."""
    database = get_runtime(app).database
    created = app.test_client().post(
        "/api/jobs", json={"schedule": "0 0 * * * *", "endpoint": "https://example.com/x"}
    )
    job_id = ObjectId(created.get_json()["data"]["jobId"])
    tick = clock.now().replace(microsecond=0)
    entry = {"id": ObjectId(), "scheduledAt": tick, "attempt": 1, "state": "running",
             "dueAt": tick + timedelta(seconds=60), "owner": "dead", "manual": False}  # fmt: skip
    database.jobs.update_one({"_id": job_id}, {"$push": {"inflight": entry}})
    database.job_executions.insert_one(
        {"jobId": job_id, "scheduledAt": tick, "attempt": 1, "status": recorded, "startedAt": tick}
    )
    clock.set(entry["dueAt"] + timedelta(seconds=1))
    return database.jobs.find_one({"_id": job_id})


def reclaim(app: Flask, job: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    monkeypatch.setattr(executor_module, "perform", lambda request, session: sent.append(request)
                        or OK)  # fmt: skip
    make_worker(app, owner="survivor").run(candidate(job, job["inflight"][0]))
    return sent


def test_an_orphan_whose_attempt_succeeded_is_released_not_re_run(
    app: Flask, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = orphaned_tick(app, clock, "success")
    assert reclaim(app, job, monkeypatch) == []
    database = get_runtime(app).database
    assert database.jobs.find_one({"_id": job["_id"]})["inflight"] == []
    assert [e["status"] for e in database.job_executions.find()] == ["success"]


def test_an_orphan_still_running_is_re_run_as_the_next_attempt(
    app: Flask, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = orphaned_tick(app, clock, "running")
    [request] = reclaim(app, job, monkeypatch)
    assert request.headers["X-Scheduler-Attempt"] == "2"
    executions = get_runtime(app).database.job_executions.find(sort=[("attempt", 1)])
    assert [(e["attempt"], e["status"]) for e in executions] == [(1, "failure"), (2, "success")]


def test_an_orphan_without_a_record_is_recorded_as_abandoned_and_re_run(
    app: Flask, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = orphaned_tick(app, clock, "running")
    get_runtime(app).database.job_executions.delete_many({})  # attempts write at their end
    [request] = reclaim(app, job, monkeypatch)
    assert request.headers["X-Scheduler-Attempt"] == "2"
    executions = get_runtime(app).database.job_executions.find(sort=[("attempt", 1)])
    assert [(e["attempt"], e["status"], e["errorMessage"]) for e in executions] == [
        (1, "failure", ORPHAN_MESSAGE), (2, "success", None),
    ]  # fmt: skip


def test_a_late_process_records_its_attempt_but_leaves_the_re_claimed_tick_alone(
    app: Flask, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lease ran out while it lived (a long pause): another process re-claimed the tick
    and runs attempt 2 when the first attempt ends after all."""
    job = orphaned_tick(app, clock, "running")
    database = get_runtime(app).database
    database.job_executions.delete_many({})
    stale = job["inflight"][0]
    database.jobs.update_one(
        {"_id": job["_id"]},
        {"$set": {"inflight.0.owner": "survivor", "inflight.0.attempt": 2}},
    )
    database.job_executions.insert_one({  # the survivor's record of the abandoned attempt
        "jobId": job["_id"], "scheduledAt": stale["scheduledAt"], "attempt": 1,
        "status": "failure", "errorMessage": ORPHAN_MESSAGE,
    })  # fmt: skip
    monkeypatch.setattr(executor_module, "perform", lambda request, session: OK)

    make_worker(app, owner="dead").executor.execute(
        Claim(Job.from_document(job), Entry.from_document(stale))
    )

    [record] = database.job_executions.find()
    assert (record["attempt"], record["status"], record["responseCode"]) == (1, "success", 200)
    [entry] = database.jobs.find_one({"_id": job["_id"]})["inflight"]
    assert (entry["owner"], entry["attempt"]) == ("survivor", 2)
