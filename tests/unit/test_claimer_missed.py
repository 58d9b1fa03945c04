"""After downtime the claimer applies the job's missedRunPolicy to what it stores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from scheduler_service.clock import FixedClock
from scheduler_service.runtime import get_runtime
from tests.support.workers import candidate, make_worker


def job_after_downtime(app: Flask, clock: FixedClock, policy: str) -> dict[str, Any]:
    """A job every 10 s whose nextRunAt is 12:00:10, seen at 12:01:05 (six ticks missed)."""
    created = app.test_client().post(
        "/api/jobs",
        json={
            "schedule": "*/10 * * * * *",
            "endpoint": "https://example.com/x",
            "missedRunPolicy": policy,
        },
    )
    clock.advance(seconds=65)
    database = get_runtime(app).database
    return database.jobs.find_one({"_id": ObjectId(created.get_json()["data"]["jobId"])})


@pytest.mark.parametrize(
    ("policy", "runs", "next_run", "skipped"),
    [
        ("COALESCE", ["12:01:00"], "12:01:10", 0),
        ("RUN_ALL", ["12:00:10"], "12:00:20", 0),
        ("SKIP", [], "12:01:10", 6),
    ],
)
def test_missed_run_policy(
    app: Flask, clock: FixedClock, policy: str, runs: list[str], next_run: str, skipped: int
) -> None:
    job = job_after_downtime(app, clock, policy)
    assert job["nextRunAt"].strftime("%H:%M:%S") == "12:00:10"
    won = make_worker(app).claimer.claim([candidate(job)]).won
    assert [claim.entry.scheduled_at.strftime("%H:%M:%S") for _, claim in won] == runs
    stored = get_runtime(app).database.jobs.find_one({"_id": job["_id"]})
    assert stored["nextRunAt"].strftime("%H:%M:%S") == next_run
    assert stored["skippedTicks"] == skipped
    assert clock.now() - job["nextRunAt"] > timedelta(seconds=50)


def test_jobs_missed_from_different_ticks_are_all_claimed(app: Flask, clock: FixedClock) -> None:
    """After downtime two every-second jobs whose next ticks differ coalesce to the same
    tick; each claim must still hold against its own stored nextRunAt."""
    client = app.test_client()
    ids = []
    for _ in range(2):
        created = client.post(
            "/api/jobs", json={"schedule": "* * * * * *", "endpoint": "https://example.com/x"}
        )
        ids.append(ObjectId(created.get_json()["data"]["jobId"]))
        clock.advance(seconds=3)  # the second job's first tick is 3 s after the first's
    clock.advance(seconds=60)
    database = get_runtime(app).database
    jobs = [database.jobs.find_one({"_id": job_id}) for job_id in ids]
    assert jobs[0]["nextRunAt"] != jobs[1]["nextRunAt"]
    won = make_worker(app).claimer.claim([candidate(job) for job in jobs]).won
    assert sorted(claim.job.id for _, claim in won) == sorted(ids)
    assert {claim.entry.scheduled_at for _, claim in won} == {clock.now().replace(microsecond=0)}
