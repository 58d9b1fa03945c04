"""Answers wait for the requests due by now to go out (``delivery/sends_due.py``): an
injected clock decides what is due; a thread's wait ends when the last due one is sent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from scheduler_service.delivery import sends_due
from scheduler_service.delivery.sends_due import SendsDue
from tests.support.waiting import wait_until


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _waiter(sends: SendsDue, limit_s: float = 60.0) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(sends.wait_for_sends(limit_s)),
                              daemon=True)  # fmt: skip
    thread.start()
    return thread, result


def test_nothing_due_waits_for_nothing() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    sends.expect(100.5)  # due later: not waited for
    assert sends.unsent() == 0
    assert sends.wait_for_sends(60) is True


def test_waits_until_the_last_due_request_is_sent() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    first, second, later = sends.expect(99.99), sends.expect(100.0), sends.expect(101.0)
    assert sends.unsent() == 2
    thread, result = _waiter(sends)
    sends.sent(first)
    assert sends.unsent() == 1
    thread.join(0.05)
    assert thread.is_alive() and result == []  # one due request is still unsent
    sends.sent(second)
    thread.join(30)
    assert result == [True]
    assert sends.unsent() == 0
    clock.now = 101.0
    assert sends.unsent() == 1  # its time came
    sends.sent(later)
    sends.sent(later)  # twice: nothing more
    assert sends.unsent() == 0


def test_the_wait_is_bounded() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=0.01)
    sends.expect(100.0)  # never sent
    assert sends.wait_for_sends(60) is False  # ``hold_s`` ended it
    assert SendsDue(now=clock, hold_s=60).wait_for_sends(0) is True  # nothing due
    sends_long = SendsDue(now=clock, hold_s=60)
    sends_long.expect(100.0)
    assert sends_long.wait_for_sends(0.01) is False  # the caller's limit ended it


def test_expecting_counts_the_request_until_after_send() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    with sends_due.expecting(100.0, sends):
        assert sends.unsent() == 1
        sends_due.after_send(None, sends)  # this thread's request is out; none other due
        assert sends.unsent() == 0
    assert sends.unsent() == 0


def test_expecting_gives_up_its_request_when_it_never_goes_out() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    thread, result = _waiter(sends)
    try:
        with sends_due.expecting(99.0, sends):
            wait_until(lambda: sends.unsent() == 1)
            raise RuntimeError("the attempt failed before sending")
    except RuntimeError:
        pass
    thread.join(30)
    assert result == [True]
    assert sends.unsent() == 0


def test_after_send_waits_for_the_others_due() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    other = sends.expect(100.0)
    done = threading.Event()

    def attempt() -> None:
        with sends_due.expecting(100.0, sends):
            sends_due.after_send(None, sends)
            done.set()

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    wait_until(lambda: sends.unsent() == 1)  # its own is out, the other is not
    assert not done.is_set()
    sends.sent(other)
    thread.join(30)
    assert done.is_set()


def test_hold_lets_an_expected_request_go_at_its_time_never_before() -> None:
    clock = Clock(100.0)
    sends = SendsDue(now=clock, hold_s=60)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the clock moves less than asked, then on
        slept.append(seconds)
        clock.now += seconds / 2 if len(slept) == 1 else seconds

    with sends_due.expecting(100.01, sends):
        assert sends_due.expected() and sends_due.released() is None
        assert abs(sends_due.starts_in() - 0.01) < 1e-9
        sends_due.hold(sleep)
        assert clock.now >= 100.01  # not before its time
        assert len(slept) == 2  # woken early once, it slept again
        assert sends_due.released() is not None and sends_due.starts_in() == 0.0
        sends_due.hold(sleep)  # let go once: the next write does not wait
        assert len(slept) == 2
    assert not sends_due.expected() and sends_due.released() is None


def test_hold_without_an_expected_request_waits_for_nothing() -> None:
    def sleep(seconds: float) -> None:
        raise AssertionError("no wait expected")

    sends_due.hold(sleep)
    assert sends_due.starts_in() == 0.0
    clock = Clock(100.0)
    with sends_due.expecting(99.0, SendsDue(now=clock, hold_s=60)):  # its time has passed
        sends_due.hold(sleep)
        assert sends_due.released() is not None


def test_due_at_is_the_tick_on_this_machines_clock_never_before_it_by_either() -> None:
    tick = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    local = tick.timestamp() - 0.010  # 10 ms before the tick on this machine's clock
    # The scheduler's clock in step with ours: the tick's time.
    assert sends_due.due_at(tick, tick - timedelta(milliseconds=10), local) == tick.timestamp()
    # The database's clock 0.5 ms ahead of ours: not before the tick by ours either.
    ahead = sends_due.due_at(tick, tick - timedelta(milliseconds=9.5), local)
    assert ahead == tick.timestamp()
    # 0.5 ms behind: the tick by its clock, later by ours.
    behind = sends_due.due_at(tick, tick - timedelta(milliseconds=10.5), local)
    assert abs(behind - (tick.timestamp() + 0.0005)) < 1e-6
    # 90 s ahead (a skewed clock, reported by health): its time, and 2 ms, not 90 s, more.
    skewed = sends_due.due_at(tick, tick + timedelta(seconds=89.99), local)
    assert abs(skewed - (local - 89.99 + sends_due.CLOCKS_AGREE_S)) < 1e-6
