"""When a claim is lost, a skip write is tried only if the overlap rule may be the reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from scheduler_service.records import Entry
from scheduler_service.runtime import get_runtime
from tests.support.workers import Worker, candidate, make_worker


def worker_and_job(app: Flask) -> tuple[Worker, dict[str, Any]]:
    runtime = get_runtime(app)
    created = app.test_client().post(
        "/api/jobs", json={"schedule": "* * * * * *", "endpoint": "https://example.com/x"}
    )
    job = runtime.database.jobs.find_one({"_id": ObjectId(created.get_json()["data"]["jobId"])})
    return make_worker(app), job


def push_entry(app: Flask, job: dict[str, Any], entry: dict[str, Any]) -> None:
    """The stored job gets ``entry`` in flight (the snapshot given to the claimer may not)."""
    get_runtime(app).database.jobs.update_one({"_id": job["_id"]}, {"$push": {"inflight": entry}})


def an_entry(owner: str, at: Any) -> dict[str, Any]:
    return Entry.scheduled(at, owner=owner, now=at, lease=timedelta(seconds=60)).to_document()


def skip_calls(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(worker.ticks, "skip_tick", lambda *a, **k: calls.append(a) or False)
    return calls


def test_a_follow_up_lost_to_another_process_makes_no_skip_write(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    mine = an_entry("me", job["nextRunAt"])  # our previous attempt: finished, not running
    stale = {**job, "nextRunAt": job["nextRunAt"] - timedelta(seconds=1), "inflight": [mine]}
    worker.claimer.claim([candidate(stale, follow_up=True)])
    assert calls == []


def test_a_follow_up_while_our_attempt_runs_tries_the_overlap_skip(
    app: Flask, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    mine = an_entry("me", job["nextRunAt"])
    push_entry(app, job, mine)
    snapshot = {**job, "inflight": [mine]}
    with worker.running.track(mine["id"], job["_id"], clock.now(), 1, clock.now()):
        worker.claimer.claim([candidate(snapshot, follow_up=True)])
    assert len(calls) == 1


def test_a_polled_busy_job_tries_the_overlap_skip(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    other = an_entry("someone", job["nextRunAt"])
    push_entry(app, job, other)
    worker.claimer.claim([candidate({**job, "inflight": [other]})])
    assert len(calls) == 1
