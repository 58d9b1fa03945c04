from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from scheduler_service.clock import FixedClock
from scheduler_service.scheduler.timer_queue import TimerQueue

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_pops_in_due_order_once_due() -> None:
    clock = FixedClock(T0 + timedelta(seconds=10))
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(seconds=2), "b", {"n": 2})
    queue.push(T0 + timedelta(seconds=1), "a", {"n": 1})
    assert queue.pop_due().key == "a"  # type: ignore[union-attr]
    assert queue.pop_due().key == "b"  # type: ignore[union-attr]


def test_a_key_is_queued_once_until_done() -> None:
    queue = TimerQueue(FixedClock(T0).now)
    assert queue.push(T0, "k", {})
    assert not queue.push(T0, "k", {})
    candidate = queue.pop_due()
    assert candidate is not None
    assert not queue.push(T0, "k", {}), "still being handled"
    queue.done("k")
    assert queue.push(T0, "k", {})


def test_waits_for_a_future_candidate_and_close_releases_the_waiter() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0 + timedelta(hours=1), "later", {})
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
    queue.push(T0 + timedelta(hours=1), "later", {})
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(queue.pop_due()))
    waiter.start()
    queue.push(T0, "now", {})
    waiter.join(5)
    assert [c.key for c in result] == ["now"]  # type: ignore[attr-defined]


def test_a_delayed_candidate_keeps_its_key_and_comes_back_when_due() -> None:
    clock = FixedClock(T0)
    queue = TimerQueue(clock.now)
    queue.push(T0, "k", {})
    candidate = queue.pop_due_nowait()
    assert candidate is not None
    queue.delay(candidate, T0 + timedelta(milliseconds=25))
    assert queue.holds("k") and not queue.push(T0, "k", {})
    assert queue.pop_due_nowait() is None
    clock.advance(milliseconds=25)
    assert queue.pop_due_nowait() is candidate
