"""The dispatcher's workers: ticks claimed ahead hold none while they wait for their time,
a worker is free for the next tick once its request is answered, and a tick claimed ahead
that no worker could start within half its lease is given back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimer import Claim, Claims
from scheduler_service.scheduler.dispatcher import AHEAD, HANDOFF, RECORDERS_PER_WORKER, Dispatcher
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue
from tests.support.waiting import wait_until

NOW = datetime(2024, 1, 1, 12, 0, 0, 850_000, tzinfo=UTC)
LEASE = timedelta(seconds=60)


class Ticks:
    def __init__(self) -> None:
        self.unclaimed: list[tuple[object, Entry]] = []

    def unclaim(self, entries: list[tuple[object, Entry]], owner: str) -> int:
        self.unclaimed.extend(entries)
        return len(entries)


class WinsAll:
    """Wins every candidate, started and leased from its time (or now, if that has passed),
    as ``Claimer`` does; remembers each claim's batch."""

    owner = "me"

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.batches: list[list[str]] = []
        self.ticks = Ticks()
        self.answers = threading.Event()  # cleared: a claim waits for its answer
        self.answers.set()

    def claim(self, candidates: list[Candidate]) -> Claims:
        self.batches.append([str(c.key) for c in candidates])
        assert self.answers.wait(10)
        won = []
        for candidate in candidates:
            start = max(candidate.due, self.clock.now())
            entry = Entry.scheduled(candidate.due, owner="me", now=start, lease=LEASE)
            won.append((candidate, Claim(candidate.job, entry)))
        return Claims(won=won)


class Attempts:
    """An executor: each attempt is answered at once, then records until ``recorded``; the
    attempts named in ``hold`` keep their worker (they never say they were answered)."""

    def __init__(self, hold: tuple[str, ...] = ()) -> None:
        self.started: list[str] = []
        self.recorded = threading.Event()
        self.hold = hold

    def prepare(self, claim: Claim) -> None:
        return None

    def execute(self, claim: Claim, ready: object = None,
                answered: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.started.append(claim.job.name)
        if answered is not None and claim.job.name not in self.hold:
            answered()
        assert self.recorded.wait(10)


def job(name: str) -> Job:
    return Job(ObjectId(), "* * * * * *", "http://127.0.0.1:9/x", name=name)


@contextmanager
def running(clock: FixedClock, executor: Attempts,
            workers: int) -> Iterator[tuple[TimerQueue, WinsAll]]:  # fmt: skip
    queue = TimerQueue(clock.now, ahead=AHEAD)
    claimer = WinsAll(clock)
    stopping = threading.Event()
    dispatcher = Dispatcher(
        queue, claimer, executor, CatchUp(RunningAttempts(), timedelta(seconds=5)),  # type: ignore[arg-type]
        Affinity("me", 1000), clock, workers=workers, lookahead=timedelta(0),
        stopping=stopping,
    )  # fmt: skip
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        yield queue, claimer
    finally:
        executor.recorded.set()
        stopping.set()
        queue.close()
        thread.join(5)
        dispatcher.shutdown()


def test_ticks_due_at_once_are_all_claimed_ahead_and_hold_no_worker_until_their_time() -> None:
    clock = FixedClock(NOW)
    executor = Attempts()
    executor.recorded.set()  # attempts end at once
    with running(clock, executor, workers=2) as (queue, claimer):
        due = NOW + AHEAD
        with queue.together():
            for number in range(5):
                queue.push(due, f"t{number}", job(f"t{number}"))
        wait_until(lambda: sum(map(len, claimer.batches)) == 5, message="all five claimed")
        # Claimed ahead, a worker's worth a write, while every worker stays idle.
        assert [len(batch) for batch in claimer.batches] == [2, 2, 1]
        assert queue.idle_workers == 2 and executor.started == []
        clock.set(due - HANDOFF)  # handed to workers; each starts at its time
        wait_until(lambda: len(executor.started) == 5, message="every tick started")


def test_a_tick_claimed_ahead_starts_at_its_time_while_another_claim_waits_for_its_answer(
) -> None:  # fmt: skip
    clock = FixedClock(NOW)
    executor = Attempts()
    with running(clock, executor, workers=2) as (queue, claimer):
        due = NOW + AHEAD
        queue.push(due, "ahead", job("ahead"))
        wait_until(lambda: claimer.batches == [["ahead"]], message="claimed ahead")
        claimer.answers.clear()
        queue.push(NOW, "now", job("now"))  # its claim hangs, and the dispatcher with it
        wait_until(lambda: len(claimer.batches) == 2, message="the second claim sent")
        clock.set(due)
        wait_until(lambda: executor.started == ["ahead"], message="the first tick started")
        claimer.answers.set()
        wait_until(lambda: executor.started == ["ahead", "now"], message="the second too")


def test_a_worker_takes_the_next_tick_once_its_request_is_answered() -> None:
    clock = FixedClock(NOW)
    executor = Attempts()
    with running(clock, executor, workers=1) as (queue, _):
        queue.push(NOW, "a", job("a"))
        queue.push(NOW, "b", job("b"))
        # a records (``recorded`` is not set) while b is sent on the one worker.
        wait_until(lambda: executor.started == ["a", "b"], message="b started")


def test_no_more_threads_record_than_recorders_per_worker() -> None:
    clock = FixedClock(NOW)
    executor = Attempts()
    names = [f"t{number}" for number in range(RECORDERS_PER_WORKER + 2)]
    with running(clock, executor, workers=1) as (queue, _):
        for name in names:
            queue.push(NOW, name, job(name))
        wait_until(lambda: executor.started == names[:-1], message="all but one started")
        # The first ones record; the next, answered too, keeps the worker while it records:
        # the last waits.
        assert not wait_until_or_none(lambda: len(executor.started) == len(names))
        executor.recorded.set()
        wait_until(lambda: executor.started == names, message="the last started")


def test_a_tick_claimed_ahead_that_no_worker_started_within_half_its_lease_is_given_back(
) -> None:  # fmt: skip
    clock = FixedClock(NOW)
    executor = Attempts(hold=("busy",))
    with running(clock, executor, workers=1) as (queue, claimer):
        queue.push(NOW, "busy", job("busy"))
        wait_until(lambda: executor.started == ["busy"], message="the worker busy")
        due = NOW + AHEAD
        queue.push(due, "late", job("late"))
        wait_until(lambda: claimer.batches[-1:] == [["late"]], message="late claimed ahead")
        clock.set(due + LEASE / 2 + timedelta(seconds=1))
        executor.recorded.set()  # the worker is free at last
        wait_until(lambda: claimer.ticks.unclaimed, message="the late tick given back")
        assert executor.started == ["busy"]


def wait_until_or_none(predicate: Callable[[], bool], timeout_s: float = 0.3) -> bool:
    """Whether ``predicate`` came true within ``timeout_s`` (for what must not happen)."""
    event = threading.Event()
    deadline = threading.Timer(timeout_s, event.set)
    deadline.start()
    try:
        while not event.is_set():
            if predicate():
                return True
            event.wait(0.01)
        return predicate()
    finally:
        deadline.cancel()
