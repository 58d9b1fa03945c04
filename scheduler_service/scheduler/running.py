"""The attempts this process is running now: a dict under a lock (the design card's shape)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId


@dataclass
class RunningAttempt:
    entry_id: ObjectId
    job_id: ObjectId
    scheduled_at: datetime
    attempt: int
    started_at: datetime
    renewed_at: datetime  # when its lease was last set


class RunningAttempts:
    def __init__(self) -> None:
        self._attempts: dict[ObjectId, RunningAttempt] = {}
        self._cond = threading.Condition()

    @contextmanager
    def track(
        self,
        entry_id: ObjectId,
        job_id: ObjectId,
        scheduled_at: datetime,
        attempt: int,
        started_at: datetime,
    ) -> Iterator[RunningAttempt]:
        running = RunningAttempt(entry_id, job_id, scheduled_at, attempt, started_at, started_at)
        with self._cond:
            self._attempts[entry_id] = running
        try:
            yield running
        finally:
            with self._cond:
                del self._attempts[entry_id]
                self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._attempts)

    def snapshot(self) -> list[RunningAttempt]:
        with self._cond:
            return list(self._attempts.values())

    def entry_ids(self) -> set[ObjectId]:
        with self._cond:
            return set(self._attempts)

    def mark_renewed(self, entry_ids: list[ObjectId], when: datetime) -> None:
        with self._cond:
            for entry_id in entry_ids:
                if entry_id in self._attempts:
                    self._attempts[entry_id].renewed_at = when

    def wait_empty(self, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._attempts, timeout_s)
