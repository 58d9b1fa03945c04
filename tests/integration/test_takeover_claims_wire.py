"""Two processes' claimers on the wire server, a FORBID every-second job held by one of them,
taken over by the other (``scheduler/claimer.py``: ``_moved_on``, ``_over_a_settled_entry``).

Process a claimed the job's tick T-1, its attempt recorded a success, and its release waits
for a's next claim (``releases.py``): a's settled entry is still in flight. Process b polled
the job once its tick T was overdue and claims it. What b sends to the database is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from scheduler_service.clock import SystemClock
from scheduler_service.records import Entry, ExecutionRecord, Status
from scheduler_service.scheduler.claimer import Claimer
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=10)
GRACE = timedelta(seconds=2)


class Commands(monitoring.CommandListener):
    """The commands a client sends, as ``(command, collection)``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if isinstance(target, str):
            with self.lock:
                self.sent.append((event.command_name, target))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> list[tuple[str, str]]:
        with self.lock:
            sent, self.sent = self.sent, []
        return sent


@dataclass
class Process:
    claimer: Claimer
    commands: Commands


@contextmanager
def process(uri: str, owner: str) -> Iterator[Process]:
    """A process's claimer on its own client, as ``runtime.compose`` builds it."""
    commands = Commands()
    client: MongoClient = MongoClient(uri, tz_aware=True, retryWrites=False,
                                      event_listeners=[commands])  # fmt: skip
    database = client.get_default_database()
    try:
        yield Process(Claimer(TickStore(database), ExecutionStore(database), SystemClock(),
                              owner, LEASE, GRACE, RunningAttempts()), commands)  # fmt: skip
    finally:
        client.close()


def held_by_a(db: Database) -> tuple[ObjectId, Entry]:
    """A FORBID every-second job whose tick T (0.6 s ago) is overdue, holding a's settled
    entry of T-1 (its attempt recorded as a success)."""
    JobStore(db).ensure_indexes()
    now = datetime.now(UTC)
    tick = now.replace(microsecond=0) - timedelta(seconds=1)
    if now - tick < timedelta(milliseconds=600):
        tick -= timedelta(seconds=1)
    previous = tick - timedelta(seconds=1)
    settled = Entry.scheduled(previous, owner="a", now=previous, lease=LEASE)
    job_id = db.jobs.insert_one({
        "schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/x", "method": "POST",
        "headers": {}, "body": None, "executionType": "AT_LEAST_ONCE", "enabled": True,
        "retryAttempts": 0, "retryDelay": 1000, "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE", "nextRunAt": tick, "nextTickAt": tick,
        "lastRunAt": previous, "createdAt": previous, "updatedAt": previous,
        "inflight": [settled.to_document()], "claimedBy": "a", "skippedTicks": 0,
    }).inserted_id  # fmt: skip
    record = ExecutionRecord.running(job_id, settled)
    ExecutionStore(db).record_many([replace(record, status=Status.SUCCESS,
                                            completed_at=previous)])  # fmt: skip
    return job_id, settled


def polled(b: Process, job_id: ObjectId) -> Candidate:
    """The candidate b's poll queues: the job as read then (``TickStore.jobs_by_id``)."""
    [job] = b.claimer.ticks.jobs_by_id([job_id])
    assert job.next_run_at is not None
    return Candidate(job.next_run_at, 0, ("tick", job.id, job.next_run_at), job)


def test_a_takeover_lost_to_the_jobs_own_process_costs_one_read_and_writes_nothing(
    wire_uri: str, wire_db: Database
) -> None:
    """a claims tick T (folding its release) between b's poll and b's claim. b's claim is
    refused; then one read shows the tick taken, so b sends neither the claim over a's
    settled entry nor the overlap skip (before: a record read and two writes, each refused,
    one round trip after another on the dispatcher's thread)."""
    job_id, settled = held_by_a(wire_db)
    with process(wire_uri, "a") as a, process(wire_uri, "b") as b:
        candidate = polled(b, job_id)
        job = candidate.job
        assert job.next_run_at is not None
        following = job.next_run_at + timedelta(seconds=1)
        entry = Entry.scheduled(job.next_run_at, owner="a", now=datetime.now(UTC), lease=LEASE)
        assert a.claimer.ticks.claim_ticks([job], entry, following, following_tick=following,
                                           forbid_overlap=True, started_at=datetime.now(UTC),
                                           replaces=(settled.id,)) == {job_id}  # fmt: skip
        b.commands.take()
        claims = b.claimer.claim([candidate])
        sent = b.commands.take()
    assert claims.won == [] and claims.refused == [candidate]
    assert sent == [("update", "jobs"), ("find", "jobs")]
    stored = wire_db.jobs.find_one({"_id": job_id})
    assert [e["owner"] for e in stored["inflight"]] == ["a"] and stored["skippedTicks"] == 0
    assert stored["nextRunAt"].replace(tzinfo=UTC) == following


def test_a_takeover_of_a_job_still_as_polled_replaces_the_settled_entry(
    wire_uri: str, wire_db: Database
) -> None:
    """a is late for tick T: b's FORBID claim is refused by a's settled entry, the read shows
    the job as polled, and b's claim replaces the entry (a's attempt is recorded as a
    success), so the tick runs rather than being skipped as an overlap."""
    job_id, _ = held_by_a(wire_db)
    with process(wire_uri, "b") as b:
        candidate = polled(b, job_id)
        b.commands.take()
        claims = b.claimer.claim([candidate])
        sent = b.commands.take()
    assert [claim.entry.owner for _, claim in claims.won] == ["b"]
    assert sent == [("update", "jobs"), ("find", "jobs"), ("find", "job_executions"),
                    ("update", "jobs")]  # fmt: skip
    stored = wire_db.jobs.find_one({"_id": job_id})
    assert [e["owner"] for e in stored["inflight"]] == ["b"] and stored["skippedTicks"] == 0
    assert stored["claimedBy"] == "b"
