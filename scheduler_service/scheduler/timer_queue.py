"""Ticks seen by the poller, waiting for their exact time: a heap under a condition variable.

Nothing in here is claimed: a candidate is only what a poll saw. It is claimed (a
compare-and-set in the database) when it is taken out at its due time, so a process that
stops holds no claims for ticks it did not start.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime

from scheduler_service.records import Entry, Job


@dataclass(order=True)
class Candidate:
    due: datetime
    seq: int
    key: Hashable = field(compare=False)
    job: Job = field(compare=False)  # as the poll saw it (or as our claim left it)
    entry: Entry | None = field(compare=False, default=None)  # None: the scheduled tick
    # The job's next tick, queued right after this process claimed the one before.
    follow_up: bool = field(compare=False, default=False)


class TimerQueue:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._heap: list[Candidate] = []
        self._keys: set[Hashable] = set()  # queued or being handled: not queued again
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closed = False

    def push(
        self, due: datetime, key: Hashable, job: Job, entry: Entry | None = None,
        *, follow_up: bool = False,
    ) -> bool:  # fmt: skip
        with self._cond:
            if key in self._keys or self._closed:
                return False
            self._keys.add(key)
            candidate = Candidate(due, next(self._seq), key, job, entry, follow_up)
            heapq.heappush(self._heap, candidate)
            self._cond.notify()
            return True

    def delay(self, candidate: Candidate, due: datetime) -> None:
        """Put a taken candidate back for ``due``; its key stays held meanwhile."""
        with self._cond:
            if self._closed:
                self._keys.discard(candidate.key)
                return
            candidate.due, candidate.seq = due, next(self._seq)
            heapq.heappush(self._heap, candidate)
            self._cond.notify()

    def holds(self, key: Hashable) -> bool:
        """Is ``key`` queued or being handled (``push`` would refuse it)?"""
        with self._cond:
            return key in self._keys

    def pop_due(self) -> Candidate | None:
        """Block until the earliest candidate is due and return it; None once closed."""
        with self._cond:
            while not self._closed:
                if self._heap:
                    wait = (self._heap[0].due - self._now()).total_seconds()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._cond.wait(min(wait, 1.0))
                else:
                    self._cond.wait(1.0)
            return None

    def pop_due_nowait(self) -> Candidate | None:
        """The earliest candidate if it is due now, else None."""
        with self._cond:
            if self._heap and not self._closed and self._heap[0].due <= self._now():
                return heapq.heappop(self._heap)
            return None

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._keys.discard(key)
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def wait_below(self, size: int, timeout_s: float) -> None:
        """Wait until fewer than ``size`` candidates are queued (or the timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._heap) < size or self._closed, timeout_s)

    def close(self) -> list[Candidate]:
        """Stop handing out candidates; return those never taken."""
        with self._cond:
            self._closed = True
            left, self._heap = self._heap, []
            self._cond.notify_all()
            return left
