"""Ticks claimed ahead of their time (``scheduler/dispatcher.py``), on the wire server with
a real target: started at their time, never before; leased from it; given back by a
process that stops before their time, then run by another at their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import iso_utc
from scheduler_service.scheduler import scheduler as scheduler_module
from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job, running_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LEASE_MS = 30_000


def the_entry(db: Database, job_id: str) -> dict[str, Any] | None:
    document = db.jobs.find_one({"_id": ObjectId(job_id)})
    return document["inflight"][0] if document and document["inflight"] else None


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def at_whole_second(after_s: float) -> datetime:
    when = datetime.now(UTC) + timedelta(seconds=after_s)
    return when.replace(microsecond=0) + timedelta(seconds=1)


def test_a_tick_claimed_ahead_starts_at_its_time_leased_from_it(
    wire_uri: str, wire_db: Database, target: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "AHEAD", timedelta(seconds=3))
    with running_service(wire_uri, scheduler_poll_interval_ms=500,
                         job_lease_timeout_ms=LEASE_MS) as app:  # fmt: skip
        run_at = at_whole_second(1.5)
        job = created_job(app.test_client(), runAt=iso_utc(run_at),
                          endpoint=target.url("/ahead"), retryAttempts=0)  # fmt: skip
        entry = wait_until(lambda: the_entry(wire_db, job["jobId"]), 5)
        assert datetime.now(UTC) < run_at and target.requests_for("/ahead") == []
        assert entry["state"] == "running" and utc(entry["startedAt"]) == run_at
        assert utc(entry["dueAt"]) == (run_at + timedelta(milliseconds=LEASE_MS))
        [request] = target.wait_for_requests("/ahead", 1, timeout_s=10)
    assert request.received_at >= run_at  # never early


def test_a_stopping_process_gives_back_a_tick_claimed_ahead_which_another_runs_at_its_time(
    wire_uri: str, wire_db: Database, target: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "AHEAD", timedelta(seconds=3))
    with running_service(wire_uri, scheduler_poll_interval_ms=500,
                         job_lease_timeout_ms=LEASE_MS) as app:  # fmt: skip
        run_at = at_whole_second(2.0)
        job = created_job(app.test_client(), runAt=iso_utc(run_at),
                          endpoint=target.url("/given-back"), retryAttempts=0)  # fmt: skip
        wait_until(lambda: the_entry(wire_db, job["jobId"]), 5)
    # Stopped (about a second) before its time: given back, a waiting entry due at its time.
    entry = the_entry(wire_db, job["jobId"])
    assert entry is not None
    assert (entry["state"], entry["owner"]) == ("waiting", None)
    assert utc(entry["dueAt"]) == run_at
    assert target.requests_for("/given-back") == []
    monkeypatch.setattr(scheduler_module, "AHEAD", timedelta(0))
    with running_service(wire_uri, scheduler_poll_interval_ms=300):
        [request] = target.wait_for_requests("/given-back", 1, timeout_s=10)
    assert request.received_at >= run_at
    assert request.header("X-Scheduler-Attempt") == "1"
