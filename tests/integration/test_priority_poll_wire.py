"""A poll reads at most a batch of due ticks; with more due than that, it reads them again
highest priority first, so a backlog of low-priority ticks does not hide a high-priority
one (the real wire server; mongomock for the scheduler's own poll)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.records import Entry
from scheduler_service.runtime import compose
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore
from tests.support.tick_jobs import T0, due_job

BACKLOG = 30
BATCH = 10


@pytest.fixture
def backlog(wire_db: Database) -> Database:
    JobStore(wire_db).ensure_indexes()
    for n in range(BACKLOG):  # the oldest: a burst of low priority
        due_job(wire_db, 1, T0 - timedelta(minutes=1, milliseconds=-n))
    return wire_db


def test_a_full_batch_of_due_ticks_holds_the_high_priority_ones_first(backlog: Database) -> None:
    default = due_job(backlog, 5, T0 - timedelta(seconds=2))
    highs = [due_job(backlog, 9, T0 - timedelta(seconds=1)), due_job(backlog, 9, T0)]
    top = due_job(backlog, 10, T0)
    due_job(backlog, 10, T0 + timedelta(hours=1))  # not due
    oldest = TickStore(backlog).due_ticks(T0, BATCH)  # what a poll reads without a backlog
    assert len(oldest) == BATCH and not {job.id for job in oldest} & {top, *highs, default}
    due = TickStore(backlog).due_ticks(T0, BATCH, by_priority=True)
    assert [job.id for job in due][:4] == [top, *highs, default]
    assert len(due) == BATCH  # then the oldest low-priority ones
    assert [job.next_run_at for job in due[4:]] == sorted(job.next_run_at for job in due[4:])


def test_a_full_batch_of_due_entries_holds_the_high_priority_ones_first(
    wire_db: Database,
) -> None:
    JobStore(wire_db).ensure_indexes()
    for n in range(BACKLOG):
        retry = Entry.retry(Entry.manual(T0), T0 - timedelta(minutes=1, milliseconds=-n))
        due_job(wire_db, 1, T0 + timedelta(days=1), inflight=[retry.to_document()])
    manual = Entry.manual(T0)
    high = due_job(wire_db, 10, T0 + timedelta(days=1), inflight=[manual.to_document()])
    due = TickStore(wire_db).jobs_with_due_entries(T0, BATCH)
    assert len(due) == BATCH and due[0].id == high and due[0].priority == 10


def test_a_poll_behind_a_low_priority_backlog_still_queues_a_high_priority_tick(
    mongo_db: Database,
) -> None:
    """The scheduler's own poll (its batch is at least 2,000: the backlog is that big)."""
    clock = FixedClock(T0)
    config = Config(scheduler_poll_interval_ms=1000, execution_retention_days=0)
    scheduler = compose(config, clock, mongo_db, None, "injected").new_scheduler(owner="me")
    batch = scheduler.poller.batch
    mongo_db.jobs.insert_many([
        {"schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/x", "method": "POST",
         "enabled": True, "nextRunAt": T0 - timedelta(minutes=1), "updatedAt": T0,
         "inflight": [], "claimedBy": None, "priority": 1}
        for _ in range(batch)
    ])  # fmt: skip
    high = due_job(mongo_db, 10, T0)
    assert scheduler.poll_once() is True  # a full batch
    first = scheduler.queue.pop_due_nowait()
    assert first is not None and first.job.id == high
    # The backlog drained (here: the low-priority jobs disabled): polls read oldest first
    # again, and still see everything due.
    mongo_db.jobs.update_many({"priority": 1}, {"$set": {"enabled": False}})
    later = due_job(mongo_db, 3, T0)
    assert scheduler.poll_once() is False
    assert scheduler.poll_once() is False
    assert {c.job.id for c in scheduler.queue.close()} >= {later}
