"""When an attempt woken ahead of its tick's time started (``executor._released``): when its
request was let go, on the executor's clock, never before the tick's time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from scheduler_service.delivery import sends_due
from scheduler_service.delivery.sends_due import SendsDue
from scheduler_service.records import Entry
from scheduler_service.scheduler.executor import _released

TICK = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def entry() -> Entry:
    return Entry.scheduled(TICK, owner="owner", now=TICK, lease=timedelta(seconds=30))


def test_started_when_its_request_was_let_go() -> None:
    woke, begun = TICK - timedelta(milliseconds=10), time.monotonic()
    with sends_due.expecting(100.0, SendsDue(now=lambda: 100.0)) as expected:
        expected.released = begun + 0.0123  # let go 12.3 ms after it woke
        assert _released(entry(), woke, begun) == TICK + timedelta(milliseconds=2)


def test_never_before_its_tick() -> None:
    woke, begun = TICK - timedelta(milliseconds=10), time.monotonic()
    with sends_due.expecting(100.0, SendsDue(now=lambda: 100.0)) as expected:
        expected.released = begun + 0.0095  # the clocks' milliseconds disagree: its tick
        assert _released(entry(), woke, begun) == TICK


def test_one_that_never_wrote_is_let_go_at_its_time() -> None:
    woke, begun = TICK - timedelta(milliseconds=10), time.monotonic()
    with sends_due.expecting(100.0, SendsDue(now=lambda: 100.0)) as expected:
        assert expected.released is None  # failed before its first write
        started = _released(entry(), woke, begun)
        assert expected.released is not None  # let go (its time had come)
        assert started >= TICK
