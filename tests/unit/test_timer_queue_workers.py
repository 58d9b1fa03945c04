"""``TimerQueue.take``: a candidate due now needs an idle worker; one taken out ahead of its
time, to be claimed, needs none, and waits for its time claimed, then for a worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.claims import Claim
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AHEAD = timedelta(milliseconds=150)
LEAD = timedelta(milliseconds=20)


def job(priority: int = 5) -> Job:
    return Job(id=ObjectId(), schedule="* * * * * *", endpoint="http://127.0.0.1:9/",
               priority=priority)  # fmt: skip


def queue_of(clock: FixedClock, workers: int, ahead_limit: int = 100) -> TimerQueue:
    queue = TimerQueue(clock.now, ahead=AHEAD)
    queue.count_workers(workers, ahead_limit)
    return queue


def claimed(candidate: Candidate) -> Claim:
    entry = Entry.scheduled(candidate.due, owner="me", now=candidate.due,
                            lease=timedelta(seconds=60))  # fmt: skip
    return Claim(candidate.job, entry)


def take_now(queue: TimerQueue, limit: int = 200, *, claimed: bool = False) -> list[Candidate]:
    """What ``take`` hands out now (it waits for nothing): to the dispatcher, or to the
    starter of the ticks claimed ahead (``claimed``)."""
    return queue.take(limit, timeout_s=0, claimed=claimed) or []


def test_a_due_candidate_is_taken_only_with_an_idle_worker() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1)
    queue.push(T0, "a", job())
    queue.push(T0, "b", job())
    [first] = take_now(queue)
    assert first.key == "a" and first.worker and queue.idle_workers == 0
    queue.free_worker()
    [second] = take_now(queue)
    assert second.key == "b" and second.worker
    assert take_now(queue) == [], "nothing left"


def test_ticks_due_at_once_are_taken_ahead_without_workers_as_many_as_workers_a_take() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=2)
    for number in range(5):
        queue.push(T0 + AHEAD, f"t{number}", job())
    taken = take_now(queue)
    assert [c.key for c in taken] == ["t0", "t1"]  # one claim's worth: as many as workers
    assert not any(c.worker for c in taken) and queue.idle_workers == 2
    assert [c.key for c in take_now(queue)] == ["t2", "t3"], "the next take, still ahead"


def test_a_claimed_tick_waits_for_its_time_then_for_a_worker() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1)
    due = T0 + AHEAD
    queue.push(due, "a", job())
    queue.push(due, "b", job())
    for _ in range(2):  # one a take: as many as workers
        for candidate in take_now(queue):
            assert not candidate.worker
            queue.wait_claimed(candidate, claimed(candidate), None, LEAD)
    clock.set(due - LEAD - timedelta(milliseconds=1))
    assert take_now(queue, claimed=True) == [] and len(queue) == 2, "not before its lead"
    clock.set(due - LEAD)
    assert take_now(queue) == [], "claimed: for the starter, not the dispatcher"
    [first] = take_now(queue, claimed=True)
    assert first.key == "a" and first.claim is not None and first.worker
    assert take_now(queue, claimed=True) == [], "the other waits for a worker"
    queue.free_worker()
    [second] = take_now(queue, claimed=True)
    assert second.key == "b" and second.worker


def _claim_a_ahead_of_b(queue: TimerQueue, due: datetime) -> None:
    """Two candidates due at ``due``: ``a`` taken out and claimed ahead, ``b`` queued."""
    queue.push(due, "a", job())
    queue.push(due, "b", job())
    [first] = take_now(queue)
    queue.wait_claimed(first, claimed(first), None, LEAD)


def test_past_the_limit_of_ticks_claimed_ahead_a_candidate_waits_for_its_time() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=4, ahead_limit=1)
    due = T0 + AHEAD
    _claim_a_ahead_of_b(queue, due)
    clock.set(due - timedelta(milliseconds=50))
    assert take_now(queue) == [], "no room to claim b ahead"
    clock.set(due)
    assert take_now(queue) == [], "a, claimed, comes first: the starter's"
    [started] = take_now(queue, claimed=True)
    assert (started.key, started.claim is not None, started.worker) == ("a", True, True)
    [late] = take_now(queue)
    assert (late.key, late.claim, late.worker) == ("b", None, True), "to claim, with a worker"


def test_a_candidate_whose_time_comes_while_it_waits_for_room_then_needs_a_worker() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1, ahead_limit=1)
    due = T0 + AHEAD
    _claim_a_ahead_of_b(queue, due)
    clock.set(due)
    [started] = take_now(queue, claimed=True)
    assert started.key == "a" and started.worker  # claimed: to start
    assert take_now(queue) == [], "b is due now, and the only worker is busy"
    queue.free_worker()
    [late] = take_now(queue)
    assert late.key == "b" and late.worker and late.claim is None, "claimed with a worker"


def test_a_pre_claimed_tick_is_taken_ahead_without_a_worker_whatever_the_limit() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1, ahead_limit=0)
    entry = Entry.scheduled(T0 + AHEAD, owner="me", now=T0 + AHEAD, lease=timedelta(seconds=10))
    queue.push(T0 + AHEAD, "pre", job(), entry, pre_claimed=True)
    [pre] = take_now(queue)
    assert pre.key == "pre" and not pre.worker and queue.idle_workers == 1


def test_close_returns_the_claimed_and_the_early_too() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1, ahead_limit=1)
    due = T0 + AHEAD
    _claim_a_ahead_of_b(queue, due)
    clock.set(due - timedelta(milliseconds=50))
    take_now(queue)  # b: out, no room: early
    assert sorted(c.key for c in queue.close()) == ["a", "b"]  # type: ignore[type-var]


def test_nothing_is_taken_to_claim_ahead_while_due_work_waits_for_a_worker() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1)
    queue.push(T0, "a", job())
    queue.push(T0, "b", job())
    queue.push(T0 + AHEAD, "c", job())
    assert [c.key for c in take_now(queue)] == ["a"]  # the only worker
    assert take_now(queue) == [], "behind: b waits for the worker, c is not claimed ahead"
    queue.free_worker()
    assert [c.key for c in take_now(queue)] == ["b"]
    [ahead] = take_now(queue)
    assert ahead.key == "c" and not ahead.worker, "caught up: c is claimed ahead again"


def test_ticks_claimed_ahead_waiting_for_their_time_do_not_hold_back_more_claims_ahead() -> None:
    clock = FixedClock(T0)
    queue = queue_of(clock, workers=1)
    due = T0 + AHEAD
    _claim_a_ahead_of_b(queue, due)
    clock.set(due - LEAD)  # a is handed out: it waits for the worker, before its time
    [second] = take_now(queue)
    assert second.key == "b" and not second.worker, "b is still claimed ahead"
