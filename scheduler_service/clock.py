"""The one source of time: all that reads time takes a ``Clock``; tests pass a fixed one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Aware UTC wall-clock time, truncated to milliseconds (what MongoDB stores)."""

    def now(self) -> datetime:
        return to_millis(datetime.now(UTC))


class FixedClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def to_millis(when: datetime) -> datetime:
    """Drop sub-millisecond precision, as BSON dates do."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def iso_utc(when: datetime | None) -> str | None:
    """Render as the contract's ``2024-01-01T12:05:00.000Z``."""
    if when is None:
        return None
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
