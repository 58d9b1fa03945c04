from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.timer_queue import TimerQueue

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def job(priority: int = 5) -> Job:
    return Job(id=ObjectId(), schedule="* * * * * *", endpoint="http://127.0.0.1:9/",
               priority=priority)  # fmt: skip


def test_pops_in_due_order_once_due() -> None:
    clock = FixedClock(T0 + timedelta(seconds=10))
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(seconds=2), "b", job())
    queue.push(T0 + timedelta(seconds=1), "a", job())
    assert queue.pop_due().key == "a"  # type: ignore[union-attr]
    assert queue.pop_due().key == "b"  # type: ignore[union-attr]


def test_a_key_is_queued_once_until_done() -> None:
    queue = TimerQueue(FixedClock(T0).now)
    assert queue.push(T0, "k", job())
    assert not queue.push(T0, "k", job())
    candidate = queue.pop_due()
    assert candidate is not None
    assert not queue.push(T0, "k", job()), "still being handled"
    queue.done("k")
    assert queue.push(T0, "k", job())


def test_waits_for_a_future_candidate_and_close_releases_the_waiter() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(hours=1), "later", job())
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(queue.pop_due()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive(), "nothing is due yet"
    left = queue.close()
    waiter.join(5)
    assert result == [None]
    assert [c.key for c in left] == ["later"]


def test_an_earlier_push_wakes_the_waiter() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(hours=1), "later", job())
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(queue.pop_due()))
    waiter.start()
    queue.push(T0, "now", job())
    waiter.join(5)
    assert [c.key for c in result] == ["now"]  # type: ignore[attr-defined]


def test_a_delayed_candidate_keeps_its_key_and_comes_back_when_due() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0, "k", job())
    candidate = queue.pop_due_nowait()
    assert candidate is not None
    queue.delay(candidate, T0 + timedelta(milliseconds=25))
    assert queue.holds("k") and not queue.push(T0, "k", job())
    assert queue.pop_due_nowait() is None
    clock.advance(milliseconds=25)
    assert queue.pop_due_nowait() is candidate


def keys_popped(queue: TimerQueue) -> list[object]:
    keys = []
    while (candidate := queue.pop_due_nowait()) is not None:
        keys.append(candidate.key)
    return keys


def test_of_those_due_the_highest_priority_comes_first_then_the_oldest() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0 - timedelta(seconds=3), "low-old", job(1))
    queue.push(T0 - timedelta(seconds=1), "high-new", job(9))
    queue.push(T0 - timedelta(seconds=2), "high-old", job(9))
    queue.push(T0 - timedelta(seconds=5), "default-oldest", job())
    queue.push(T0 - timedelta(seconds=1), "high-new-pushed-later", job(9))
    queue.push(T0 + timedelta(seconds=1), "top-not-due", job(10))
    assert keys_popped(queue) == ["high-old", "high-new", "high-new-pushed-later",
                                  "default-oldest", "low-old"]  # fmt: skip
    clock.advance(seconds=1)
    assert keys_popped(queue) == ["top-not-due"]


def test_a_candidate_not_yet_due_waits_whatever_its_priority() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(milliseconds=1), "high-later", job(10))
    queue.push(T0, "low-now", job(1))
    assert keys_popped(queue) == ["low-now"]
    clock.advance(milliseconds=1)
    assert keys_popped(queue) == ["high-later"]


def test_entries_come_out_by_their_jobs_priority() -> None:
    """A retry, a manual run, a replay or an orphan is queued with its job, so it keeps the
    job's priority."""
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    retry = Entry.manual(T0 - timedelta(seconds=2))
    queue.push(T0 - timedelta(seconds=2), "low-tick", job(2))
    queue.push(T0 - timedelta(seconds=1), "high-entry", job(8), retry)
    assert keys_popped(queue) == ["high-entry", "low-tick"]


def test_a_blocked_taker_gets_the_highest_priority_of_a_batch_pushed_together() -> None:
    """A poll pushes what it found as one: a dispatcher waiting meanwhile is handed the
    first by priority, not the first pushed."""
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    taken: list[object] = []
    taker = threading.Thread(target=lambda: taken.append(queue.pop_due()))
    taker.start()
    with queue.together():
        for number in range(20):
            queue.push(T0, f"low-{number}", job(1))
        queue.push(T0, "high", job(10))
    taker.join(5)
    assert [c.key for c in taken] == ["high"]  # type: ignore[attr-defined]
    assert len(queue) == 20


def test_a_delayed_candidate_keeps_its_priority() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0, "high", job(10))
    candidate = queue.pop_due_nowait()
    assert candidate is not None
    queue.delay(candidate, T0 + timedelta(milliseconds=25))
    queue.push(T0 + timedelta(milliseconds=10), "low", job(1))
    clock.advance(milliseconds=30)
    assert keys_popped(queue) == ["high", "low"]


def test_close_returns_both_the_due_and_the_waiting() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0, "due", job(9))
    queue.push(T0, "due-too", job(1))
    queue.push(T0 + timedelta(hours=1), "later", job())
    assert queue.pop_due_nowait().key == "due"  # type: ignore[union-attr]
    assert len(queue) == 2
    assert sorted(c.key for c in queue.close()) == ["due-too", "later"]  # type: ignore[type-var]
    assert queue.pop_due_nowait() is None


def test_with_ahead_a_candidate_is_handed_out_that_long_before_its_time_or_held() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now, ahead=timedelta(milliseconds=50))
    queue.push(T0 + timedelta(milliseconds=60), "a", job())
    assert queue.pop_due_nowait() is None
    clock.advance(milliseconds=10)
    taken = queue.pop_due_nowait()
    assert taken is not None and taken.key == "a"  # 50 ms before its time
    queue.delay(taken, taken.due, early=False)  # not to be claimed ahead: its time only
    assert queue.pop_due_nowait() is None
    clock.advance(milliseconds=50)
    assert queue.pop_due_nowait() is taken
