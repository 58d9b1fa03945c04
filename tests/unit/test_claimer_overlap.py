"""When a claim is lost, a skip write is tried only if the overlap rule may be the reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from scheduler_service.records import Entry, ExecutionRecord, Status
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


def record_success(app: Flask, job: dict[str, Any], entry: dict[str, Any]) -> None:
    record = ExecutionRecord.running(job["_id"], Entry.from_document(entry))
    done = replace(record, status=Status.SUCCESS, completed_at=entry["startedAt"])
    get_runtime(app).executions.record_many([done])


def test_a_busy_jobs_entry_recorded_as_a_success_is_replaced_not_skipped(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process held the release of its settled tick for its next claim (and died or
    is late): the take-over replaces that entry rather than skip the tick as an overlap."""
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    other = an_entry("someone", job["nextRunAt"] - timedelta(seconds=1))
    push_entry(app, job, other)
    record_success(app, job, other)
    claims = worker.claimer.claim([candidate({**job, "inflight": [other]})])
    assert len(claims.won) == 1 and calls == []
    stored = get_runtime(app).database.jobs.find_one({"_id": job["_id"]})
    assert [e["owner"] for e in stored["inflight"]] == ["me"]


def test_a_busy_jobs_entry_not_recorded_as_a_success_still_skips(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    other = an_entry("someone", job["nextRunAt"] - timedelta(seconds=1))
    push_entry(app, job, other)
    failed = replace(ExecutionRecord.running(job["_id"], Entry.from_document(other)),
                     status=Status.FAILURE, completed_at=other["startedAt"])  # fmt: skip
    get_runtime(app).executions.record_many([failed])
    assert worker.claimer.claim([candidate({**job, "inflight": [other]})]).won == []
    assert len(calls) == 1


def test_a_busy_job_whose_tick_was_claimed_since_the_poll_costs_one_read_and_no_write(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual reason a take-over claim is lost: the job's own process claimed the tick
    first. Its settled entry is recorded as a success, but the tick moved on, so neither the
    replacing claim nor the skip is tried (each would be refused: the job is not as seen)."""
    worker, job = worker_and_job(app)
    calls = skip_calls(worker, monkeypatch)
    recorded: list[Any] = []
    monkeypatch.setattr(worker.claimer.executions, "recorded",
                        lambda *a: recorded.append(a))  # fmt: skip
    other = an_entry("someone", job["nextRunAt"] - timedelta(seconds=1))
    push_entry(app, job, other)
    record_success(app, job, other)
    polled = {**job, "inflight": [other]}
    database = get_runtime(app).database
    database.jobs.update_one({"_id": job["_id"]},
                             {"$set": {"nextRunAt": job["nextRunAt"] + timedelta(seconds=1)}})
    claims = worker.claimer.claim([candidate(polled)])
    assert claims.won == [] and len(claims.refused) == 1
    assert calls == [] and recorded == []
    assert database.jobs.find_one({"_id": job["_id"]})["inflight"] == [other]
