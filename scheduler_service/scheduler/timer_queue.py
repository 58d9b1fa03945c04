"""Ticks seen by the poller, waiting for their time, then for a worker: two heaps under
one condition variable.

Nothing in here is claimed: a candidate is only what a poll saw. It is claimed (a
compare-and-set in the database) when it is taken out, so a process that stops holds no
claims for ticks it only queued (those claimed ahead it gives back, ``dispatcher.py``).

A candidate waits in the *timer* heap (by due time) until its time comes (or ``ahead`` of
it, for the dispatcher to claim it ahead), then moves to the *ready* heap, which hands out
the one to run next by ``run_order``: the highest priority first, then the oldest due.
Only when more is due than there are free workers does the ready heap hold more than one,
so a burst of low-priority ticks never delays a high-priority one behind it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler_service.records import Entry, Job


@dataclass
class Candidate:
    due: datetime
    seq: int  # the order of pushes: ties of due time and priority go first come first
    key: Hashable
    job: Job  # as the poll saw it (or as our claim left it)
    entry: Entry | None = None  # None: the scheduled tick
    # The job's next tick, queued right after this process claimed the one before.
    follow_up: bool = False
    early: bool = True  # may be taken out ahead of its time (``TimerQueue.ahead``)
    # ``entry`` is ours already, claimed with the job's tick before (``pre_claims.py``).
    pre_claimed: bool = False

    @property
    def priority(self) -> int:
        """The job's: retries, manual runs, replays and orphans carry the job too."""
        return self.job.priority


def run_order(candidate: Candidate) -> tuple[int, datetime, int]:
    """Among the candidates due: the highest priority first, then the oldest due, then the
    first pushed. The one place that says in what order due work is claimed and started."""
    return (-candidate.priority, candidate.due, candidate.seq)


class TimerQueue:
    def __init__(self, now: Callable[[], datetime], ahead: timedelta = timedelta(0)) -> None:
        self._now = now
        self.ahead = ahead  # a candidate is handed out this long before its time
        self._timer: list[tuple[datetime, int, Candidate]] = []  # not due yet, by due time
        self._ready: list[tuple[tuple[int, datetime, int], Candidate]] = []  # by run_order
        self._keys: set[Hashable] = set()  # queued or being handled: not queued again
        self._cond = threading.Condition()  # re-entrant: ``together`` holds it around pushes
        self._seq = itertools.count()
        self._closed = False

    def push(
        self, due: datetime, key: Hashable, job: Job, entry: Entry | None = None,
        *, follow_up: bool = False, pre_claimed: bool = False,
    ) -> bool:  # fmt: skip
        with self._cond:
            if key in self._keys or self._closed:
                return False
            self._keys.add(key)
            self._add(Candidate(due, next(self._seq), key, job, entry, follow_up,
                                pre_claimed=pre_claimed))  # fmt: skip
            return True

    @contextmanager
    def together(self) -> Iterator[None]:
        """Push several candidates as one: nothing is taken out until all are in, so the
        ones a poll finds already due are ordered among themselves."""
        with self._cond:
            yield

    def delay(self, candidate: Candidate, due: datetime, *, early: bool = True) -> None:
        """Put a taken candidate back for ``due`` (``early``: or ``ahead`` of it); its key
        stays held meanwhile."""
        with self._cond:
            if self._closed:
                self._keys.discard(candidate.key)
                return
            candidate.due, candidate.seq, candidate.early = due, next(self._seq), early
            self._add(candidate)

    def _add(self, candidate: Candidate) -> None:
        out = candidate.due - self.ahead if candidate.early else candidate.due
        heapq.heappush(self._timer, (out, candidate.seq, candidate))
        self._cond.notify()

    def holds(self, key: Hashable) -> bool:
        """Is ``key`` queued or being handled (``push`` would refuse it)?"""
        with self._cond:
            return key in self._keys

    def _promote(self) -> None:
        """Move what is due now from the timer heap to the ready heap (lock held)."""
        now = self._now()
        while self._timer and self._timer[0][0] <= now:
            candidate = heapq.heappop(self._timer)[2]
            heapq.heappush(self._ready, (run_order(candidate), candidate))

    def pop_due(self) -> Candidate | None:
        """Block until a candidate is due and return the first by ``run_order``; None once
        closed."""
        with self._cond:
            while not self._closed:
                self._promote()
                if self._ready:
                    return heapq.heappop(self._ready)[1]
                if self._timer:
                    wait = (self._timer[0][0] - self._now()).total_seconds()
                    self._cond.wait(min(max(wait, 0.0), 1.0))
                else:
                    self._cond.wait(1.0)
            return None

    def pop_due_nowait(self) -> Candidate | None:
        """The first candidate due now by ``run_order``, else None."""
        with self._cond:
            if self._closed:
                return None
            self._promote()
            return heapq.heappop(self._ready)[1] if self._ready else None

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._keys.discard(key)
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._timer) + len(self._ready)

    def wait_below(self, size: int, timeout_s: float) -> None:
        """Wait until fewer than ``size`` candidates are queued (or the timeout)."""
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._timer) + len(self._ready) < size or self._closed, timeout_s
            )

    def close(self) -> list[Candidate]:
        """Stop handing out candidates; return those never taken."""
        with self._cond:
            self._closed = True
            left = [c for _, c in self._ready] + [c for _, _, c in self._timer]
            self._timer, self._ready = [], []
            self._cond.notify_all()
            return left
