"""Releases folded into claims (``claimer.py``, ``releases.py``): the settled entries of jobs
claimed in different writes go with one claim write of the jobs' next tick, not one each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from scheduler_service.records import Entry
from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler.releases import Releases
from tests.support.workers import candidate, make_worker

LEASE = timedelta(seconds=60)


def every_second_job(app: Flask) -> dict[str, Any]:
    created = app.test_client().post(
        "/api/jobs", json={"schedule": "* * * * * *", "endpoint": "https://example.com/x"}
    )
    return get_runtime(app).database.jobs.find_one(
        {"_id": ObjectId(created.get_json()["data"]["jobId"])})  # fmt: skip


def test_jobs_holding_settled_entries_of_different_claims_are_claimed_in_one_write(
    app: Flask, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    worker = make_worker(app)
    releases = Releases(worker.ticks, "me", LEASE, hold=timedelta(seconds=2))
    worker.claimer.releases = releases
    database = get_runtime(app).database
    snapshots = []
    for _ in range(3):  # each settled entry from a claim of its own
        job = every_second_job(app)
        settled = Entry.scheduled(job["nextRunAt"] - timedelta(seconds=1), owner="me",
                                  now=clock.now(), lease=LEASE).to_document()  # fmt: skip
        database.jobs.update_one({"_id": job["_id"]}, {"$set": {"inflight": [settled]}})
        releases.expect(job["_id"], (settled["id"],), job["nextRunAt"])
        assert releases.defer(job["_id"], settled["id"], clock.now())
        snapshots.append({**job, "inflight": [settled]})
    writes: list[int] = []
    claim = worker.ticks.claim_ticks
    monkeypatch.setattr(worker.ticks, "claim_ticks",
                        lambda jobs, *a, **k: writes.append(len(jobs)) or claim(jobs, *a, **k))
    claims = worker.claimer.claim([candidate(s, follow_up=True) for s in snapshots])
    assert writes == [3] and len(claims.won) == 3 and releases.held() == 0
    [entry] = {claim.entry.id for _, claim in claims.won}
    for snapshot in snapshots:
        stored = database.jobs.find_one({"_id": snapshot["_id"]})
        assert [e["id"] for e in stored["inflight"]] == [entry]
