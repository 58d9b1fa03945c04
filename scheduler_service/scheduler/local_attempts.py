"""The attempts this process is running now: a dict under a lock (the design card's shape)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId


@dataclass
class RunningAttempt:
    entry_id: ObjectId
    job_id: ObjectId
    scheduled_at: datetime
    attempt: int
    started_at: datetime
    renewed_at: datetime  # when its lease was last set
    lease: timedelta | None = None  # that lease's length, if not the configured one


class RunningAttempts:
    def __init__(self) -> None:
        # Keyed by (job id, entry id): ticks claimed together share one entry id.
        self._attempts: dict[tuple[ObjectId, ObjectId], RunningAttempt] = {}
        self._cond = threading.Condition()

    @contextmanager
    def track(
        self,
        entry_id: ObjectId,
        job_id: ObjectId,
        scheduled_at: datetime,
        attempt: int,
        started_at: datetime,
        *,
        leased_at: datetime | None = None,
        lease: timedelta | None = None,
    ) -> Iterator[RunningAttempt]:
        """``leased_at`` and ``lease``: the entry's lease as its claim set it, if known (a
        tick claimed with the one before has a shorter one, ``pre_claims.py``)."""
        running = RunningAttempt(entry_id, job_id, scheduled_at, attempt, started_at,
                                 leased_at or started_at, lease)  # fmt: skip
        key = (job_id, entry_id)
        with self._cond:
            self._attempts[key] = running
        try:
            yield running
        finally:
            with self._cond:
                del self._attempts[key]
                self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._attempts)

    def snapshot(self) -> list[RunningAttempt]:
        with self._cond:
            return list(self._attempts.values())

    def __contains__(self, key: object) -> bool:
        with self._cond:
            return key in self._attempts

    def started_at(self, job_id: ObjectId, entry_id: ObjectId) -> datetime | None:
        """When this process started the attempt, if it is running here."""
        with self._cond:
            running = self._attempts.get((job_id, entry_id))
            return None if running is None else running.started_at

    def keys(self) -> set[tuple[ObjectId, ObjectId]]:
        """(job id, entry id) of every attempt running here."""
        with self._cond:
            return set(self._attempts)

    def mark_renewed(self, keys: list[tuple[ObjectId, ObjectId]], when: datetime) -> None:
        with self._cond:
            for key in keys:
                if key in self._attempts:
                    self._attempts[key].renewed_at = when
                    self._attempts[key].lease = None

    def wait_empty(self, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._attempts, timeout_s)
