"""Ticks seen by the poller, waiting for their time, then for a worker: two heaps under
one condition variable.

A candidate (``candidate.py``) is only what a poll saw, or a tick claimed ahead of its
time, waiting for it. A seen one is claimed (a compare-and-set in the database) when it is
taken out, so a process that stops holds no claims for ticks it only queued (those claimed
ahead it gives back, ``dispatcher.py``).

A candidate waits in the *timer* heap (by due time) until its time comes (or ``ahead`` of
it, for the dispatcher to claim it ahead), then moves to the *ready* heap, which hands out
the one to run next by ``run_order``: the highest priority first, then the oldest due.
Only when more is due than there are free workers does the ready heap hold more than one,
so a burst of low-priority ticks never delays a high-priority one behind it.

Workers (``count_workers``: ``MAX_CONCURRENT_JOBS``; ``take``, ``free_worker``): a candidate
taken out at or after its time needs an idle worker, and so does a tick claimed ahead
(``Candidate.claim``) handed out, ``lead`` before its time, to start. One taken out ahead
of its time to be claimed (or, pre-claimed, judged) needs none (it waits in ``_early``
until taken): it holds no worker while its claim is in flight and it waits for its time,
so that every tick due at once is claimed ahead, not only as many as there are idle
workers. A take hands out as many to claim as there are workers (one claim's write), and
at most ``ahead_limit`` ticks claimed ahead wait here at a time; past that, a candidate
waits for its time and a worker, as one that cannot be claimed ahead does.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.candidate import Candidate, needs_worker, run_order

if TYPE_CHECKING:
    from scheduler_service.scheduler.claims import Claim

__all__ = ["Candidate", "TimerQueue", "run_order"]


class TimerQueue:
    def __init__(self, now: Callable[[], datetime], ahead: timedelta = timedelta(0)) -> None:
        self._now = now
        self.ahead = ahead  # a candidate is handed out this long before its time
        self._free: int | None = None  # idle workers (``take``); None: not counted
        self._workers = 0
        self.ahead_limit: int | None = None  # ticks claimed ahead waiting here at most
        self._claimed = 0  # ticks claimed ahead (or pre-claimed) waiting here
        self._timer: list[tuple[datetime, int, Candidate]] = []  # not due yet, by due time
        self._ready: list[tuple[tuple[int, datetime, bool, int], Candidate]] = []  # by run_order
        self._early: list[Candidate] = []  # out ahead of their time, to claim: no worker
        self._keys: set[Hashable] = set()  # queued or being handled: not queued again
        self._cond = threading.Condition()  # re-entrant: ``together`` holds it around pushes
        self._seq = itertools.count()
        self._closed = False

    def count_workers(self, workers: int, ahead_limit: int) -> None:
        """Hand out candidates with ``take``, to ``workers`` workers (see above)."""
        with self._cond:
            self._free, self.ahead_limit = workers, ahead_limit
            self._workers = workers

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
            candidate.worker = False
            self._add(candidate)

    def wait_claimed(self, candidate: Candidate, claim: Claim, ready: object,
                     lead: timedelta) -> None:  # fmt: skip
        """Put back a taken candidate whose tick is now claimed (``claim``): handed out again
        ``lead`` before its time (or at once if that has passed), to a worker."""
        assert claim.entry.started_at is not None
        candidate.claim, candidate.ready, candidate.lead = claim, ready, lead
        self.delay(candidate, claim.entry.started_at)

    def _add(self, candidate: Candidate) -> None:
        if not candidate.early:
            out = candidate.due
        else:
            out = candidate.due - (self.ahead if candidate.lead is None else candidate.lead)
        if candidate.holds_claim:
            self._claimed += 1
        heapq.heappush(self._timer, (out, candidate.seq, candidate))
        self._cond.notify_all()  # the dispatcher's two takers, and ``wait_below``

    def _taken(self, candidate: Candidate) -> Candidate:
        if candidate.holds_claim:
            self._claimed -= 1
        return candidate

    def holds(self, key: Hashable) -> bool:
        """Is ``key`` queued or being handled (``push`` would refuse it)?"""
        with self._cond:
            return key in self._keys

    def _promote(self) -> None:
        """Move what is due now from the timer heap to the ready heap (lock held); with
        workers counted, what is out ahead of its time to be claimed goes to ``_early``."""
        now = self._now()
        if self._free is not None and self._early:  # its time came while it waited
            early, self._early = self._early, []
            for candidate in early:
                self._out(candidate, now)
        while self._timer and self._timer[0][0] <= now:
            self._out(heapq.heappop(self._timer)[2], now)

    def _out(self, candidate: Candidate, now: datetime) -> None:
        if self._free is not None and not needs_worker(candidate, now):
            self._early.append(candidate)
        else:
            heapq.heappush(self._ready, (run_order(candidate), candidate))

    def take(self, limit: int, timeout_s: float | None = None, *,
             claimed: bool = False) -> list[Candidate] | None:  # fmt: skip
        """Block until something can be taken out (at most ``timeout_s``: then []), then take
        up to ``limit``: the candidates out ahead of their time (no worker; those to claim
        while fewer than ``ahead_limit`` claimed ahead wait here), and of those that need a
        worker, as many as are idle, by ``run_order``, each then holding one
        (``Candidate.worker``) until ``free_worker``. None once closed. Only with
        ``count_workers``. Two takers share the work: ``claimed``, the ticks claimed
        ahead, to start; else the rest. Each takes only while the first in ``run_order``
        is of its kind, so the order holds across both."""
        assert self._free is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._closed:
                self._promote()
                taken = [] if claimed else self._take_early(limit)
                while (self._ready and self._free > 0 and len(taken) < limit
                       and (self._ready[0][1].claim is not None) == claimed):  # fmt: skip
                    candidate = self._taken(heapq.heappop(self._ready)[1])
                    candidate.worker = True
                    self._free -= 1
                    taken.append(candidate)
                if taken:
                    if self._ready:  # the first now may be the other taker's
                        self._cond.notify_all()
                    return taken
                wait = 1.0
                if self._timer:
                    wait = (self._timer[0][0] - self._now()).total_seconds()
                if self._early:  # waiting for room to claim ahead, else for its time
                    wait = min(wait, (min(c.due for c in self._early) - self._now())
                               .total_seconds())  # fmt: skip
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    wait = min(wait, left)
                self._cond.wait(min(max(wait, 0.0), 1.0))
            return None

    def _take_early(self, limit: int) -> list[Candidate]:
        """The pre-claimed ticks out, and as many to claim as there are workers (one claim's
        write: a write of every tick due at once came back late), room allowing; none while
        work past its time waits for a worker (this process is behind: it claims no tick
        before it has a worker for it, and then none in pairs). Ticks claimed ahead waiting
        for a worker ``lead`` before their time are no sign of that: with the first claim
        of a second's ticks handed out, the third claim of that second waited for them, and
        was made after its time."""
        taken: list[Candidate] = []
        behind = bool(self._ready) and self._ready[0][1].due <= self._now()
        room = 0 if behind else self._workers
        if self.ahead_limit is not None:
            room = min(room, self.ahead_limit - self._claimed)
        left: list[Candidate] = []
        for candidate in sorted(self._early, key=run_order):
            if len(taken) >= limit:
                left.append(candidate)
            elif candidate.holds_claim:  # pre-claimed, to judge
                taken.append(self._taken(candidate))
            elif room > 0:
                room -= 1
                taken.append(candidate)
            else:
                left.append(candidate)
        self._early = left
        return taken

    @property
    def idle_workers(self) -> int | None:
        with self._cond:
            return self._free

    def free_worker(self) -> None:
        """A worker taken with a candidate is idle again."""
        with self._cond:
            assert self._free is not None
            self._free += 1
            self._cond.notify_all()

    def pop_due(self) -> Candidate | None:
        """Block until a candidate is due and return the first by ``run_order``; None once
        closed."""
        with self._cond:
            while not self._closed:
                self._promote()
                if self._ready:
                    return self._taken(heapq.heappop(self._ready)[1])
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
            return self._taken(heapq.heappop(self._ready)[1]) if self._ready else None

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._keys.discard(key)
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._timer) + len(self._ready) + len(self._early)

    def wait_below(self, size: int, timeout_s: float) -> None:
        """Wait until fewer than ``size`` candidates are queued (or the timeout)."""
        with self._cond:
            self._cond.wait_for(
                lambda: len(self) < size or self._closed, timeout_s
            )

    def close(self) -> list[Candidate]:
        """Stop handing out candidates; return those never taken."""
        with self._cond:
            self._closed = True
            left = ([c for _, c in self._ready] + self._early
                    + [c for _, _, c in self._timer])  # fmt: skip
            self._timer, self._ready, self._early = [], [], []
            self._claimed = 0
            self._cond.notify_all()
            return left
