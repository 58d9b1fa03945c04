"""Priorities: of the ticks due, a process claims and starts the highest priority first,
then the oldest; retries, manual runs and replays keep their job's priority."""

from __future__ import annotations

import threading
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.records import Entry, Job
from scheduler_service.runtime import compose
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimer import Claim, Claims
from scheduler_service.scheduler.dispatcher import Dispatcher
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue
from tests.conftest import START
from tests.support.waiting import wait_until


def job(name: str, priority: int) -> Job:
    return Job(id=ObjectId(), schedule="* * * * * *", endpoint="http://127.0.0.1:9/x",
               name=name, priority=priority)  # fmt: skip


class WinsAll:
    """A claimer that wins every candidate (the database's part is tested elsewhere)."""

    def claim(self, candidates: list[Candidate]) -> Claims:
        entry = Entry.manual(START)
        return Claims(won=[(candidate, Claim(candidate.job, entry)) for candidate in candidates])


class Recording:
    """An executor whose first attempt holds the only worker until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release_first = threading.Event()

    def execute(self, claim: Claim, ready: object = None, answered: object = None) -> None:
        self.started.append(claim.job.name)
        if len(self.started) == 1:
            assert self.release_first.wait(10)


def test_with_every_worker_busy_the_next_started_is_the_highest_priority_due() -> None:
    clock = FixedClock(START)
    queue = TimerQueue(clock.now)
    executor = Recording()
    stopping = threading.Event()
    dispatcher = Dispatcher(
        queue, WinsAll(), executor, CatchUp(RunningAttempts(), timedelta(seconds=5)),  # type: ignore[arg-type]
        Affinity("me", 1000), clock, workers=1, lookahead=timedelta(seconds=2),
        stopping=stopping,
    )  # fmt: skip
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        queue.push(START, "first", job("first", 1), None)
        wait_until(lambda: executor.started == ["first"], message="the first attempt")
        # It waits for a worker before it takes anything due out (it would otherwise hold
        # the first candidate due, whatever its priority, until a worker is free).
        wait_until(lambda: queue.idle_workers == 0, message="the only worker busy")
        # While the only worker is busy, low-priority ticks fall due before high ones.
        for number in range(3):
            queue.push(START - timedelta(seconds=3), f"low-{number}", job(f"low-{number}", 1))
        queue.push(START - timedelta(seconds=1), "default", job("default", 5))
        for number in range(2):
            queue.push(START, f"high-{number}", job(f"high-{number}", 10))
        executor.release_first.set()
        wait_until(lambda: len(executor.started) == 7, message="every attempt")
        assert executor.started == ["first", "high-0", "high-1", "default",
                                    "low-0", "low-1", "low-2"]  # fmt: skip
    finally:
        stopping.set()
        queue.close()
        thread.join(5)
        dispatcher.shutdown()


POLL_MS = 1000


def add_job(db: Database, priority: int | None, due: timedelta, **fields: object) -> ObjectId:
    document = {"schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/x",
                "method": "POST", "enabled": True, "nextRunAt": START + due,
                "updatedAt": START, "inflight": [], "claimedBy": None, **fields}  # fmt: skip
    if priority is not None:
        document["priority"] = priority
    return db.jobs.insert_one(document).inserted_id


def test_a_poll_queues_what_is_due_to_come_out_by_priority_retries_included(
    mongo_db: Database, clock: FixedClock
) -> None:
    config = Config(scheduler_poll_interval_ms=POLL_MS, execution_retention_days=0)
    scheduler = compose(config, clock, mongo_db, None, "injected").new_scheduler(owner="me")
    lows = [add_job(mongo_db, 1, timedelta(seconds=-2)) for _ in range(5)]
    unset = add_job(mongo_db, None, timedelta(seconds=-3))  # a job of an earlier version: 5
    high = add_job(mongo_db, 10, timedelta(0))
    retry = Entry.retry(Entry.manual(START - timedelta(seconds=5)), START - timedelta(seconds=1))
    retried = add_job(mongo_db, 8, timedelta(days=1), inflight=[retry.to_document()])
    scheduler.poll_once()
    order = []
    while (candidate := scheduler.queue.pop_due_nowait()) is not None:
        order.append((candidate.job.id, candidate.entry is not None))
    assert order[:3] == [(high, False), (retried, True), (unset, False)]
    # Of the same priority and due time, in an order of the process's own (affinity.spread).
    assert sorted(order[3:]) == [(low, False) for low in lows]
