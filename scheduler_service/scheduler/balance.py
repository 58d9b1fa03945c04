"""Sharing the jobs out evenly between processes: one that claims more than its share hands
some over to one that claims less.

A job's ``claimedBy`` says which process takes its next tick first (``affinity.py``): the
one that claimed the last one, which queued the next right after its claim. So the split
of the first ticks after a start stayed for good: with 200 every-second jobs on 3
processes, 28 / 70-76 / 97-102 ticks a second, and the busiest one, needing three claim
writes ahead of each second, had the third come back after the ticks' time (README,
Performance).

Each poll reads every due job's ``claimedBy`` (``observe``). The processes alive are the
owners of a due job that is not overdue (half a poll interval past its time: a process
that stopped leaves only overdue ones, taken over by the others), and this one. Each
should own about ``1 / N`` of the jobs they own (``quota``). One that owns more than that,
by more than ``SLACK`` of it, hands the excess over to those that own less (``plan``: every
process reading the same counts makes the same plan, so two of them do not both fill the
same gap), none to one of whose jobs one is overdue (it is behind). The hand-over rides on
the job's claim (``claimer.py``): the claim of a tick and the one after it (a pair,
``pre_claims.py``: the job's next tick is then two ticks away, so the other process's
next poll sees it in time) names the other process as ``claimedBy``, which then queues the
job's next tick as its own, and this one queues no follow-up. Jobs handed over this way are
in a claim write of their own (its ``claimedBy`` differs), so it costs a write per target a
second while the split evens out, none once it has.

The process taking a job over claims its first tick at the tick's time, not ahead (the job
still holds the previous process's entries when its poll reads it, ``dispatcher.py``), so
that tick starts a claim's round trip late; after that it is claimed ahead as before.

Correctness never rests on this: a process named that has stopped leaves the job overdue,
and it is taken over as any other (``affinity.py``); every claim is a compare-and-set.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from scheduler_service.records import Job

SLACK = 0.05  # of the quota: owning this much more than it is no reason to hand over
MIN_SLACK = 2  # jobs
MEMORY = 3  # poll intervals: a job not seen due for this long is no one's share any more


def plan(counts: dict[str, int], behind: Iterable[str] = ()) -> dict[tuple[str, str], int]:
    """How many jobs each process hands over to which: ``(from, to) -> count``. ``counts``:
    the jobs each live process owns (every one of them, with 0 if none); ``behind``: those
    given nothing. Each process over ``quota`` by more than its slack comes down to it
    (rounded up), each under it gets up to it (rounded down), paired in name order."""
    if len(counts) < 2:
        return {}
    quota = sum(counts.values()) / len(counts)
    excluded = set(behind)
    slack = max(MIN_SLACK, SLACK * quota)
    over = [[owner, n - math.ceil(quota)] for owner, n in sorted(counts.items())
            if n - quota > slack]  # fmt: skip
    under = [[owner, math.floor(quota) - n] for owner, n in sorted(counts.items())
             if n < math.floor(quota) and owner not in excluded]  # fmt: skip
    moves: dict[tuple[str, str], int] = {}
    while over and under:
        giver, taker = over[0], under[0]
        moved = min(giver[1], taker[1])
        if moved > 0:
            moves[(giver[0], taker[0])] = moved
        giver[1] -= moved
        taker[1] -= moved
        if giver[1] <= 0:
            over.pop(0)
        if taker[1] <= 0:
            under.pop(0)
    return moves


class Balance:
    def __init__(self, owner: str, poll_interval_ms: int) -> None:
        self.owner = owner
        self.takeover = timedelta(milliseconds=poll_interval_ms / 2)  # as ``affinity.py``
        self._memory = MEMORY * timedelta(milliseconds=poll_interval_ms)
        self._seen: dict[object, tuple[str, datetime]] = {}  # job id -> owner, when seen
        self._stopped: dict[str, datetime] = {}  # process -> when seen letting go of its jobs
        self._budget: dict[str, int] = {}  # process -> jobs still to hand over to it
        self._lock = threading.Lock()

    def observe(self, due: Iterable[Job], now: datetime) -> None:
        """A poll's due jobs (``_id``, ``nextRunAt``, ``claimedBy``): who owns how many,
        and so what this process is to hand over, to whom, until the next poll. A job is
        counted for its owner as last seen within ``MEMORY`` intervals: one claimed in a
        pair just before the poll has its next tick past the look-ahead, and is not read.
        A job last seen as a process's that reads unclaimed was let go of by that process
        stopping (``release_jobs``): it is then no one's share, nor given any, for
        ``MEMORY`` intervals (its jobs claimed in pairs still name it meanwhile)."""
        behind: set[str] = set()
        with self._lock:
            for job in due:
                owner = job.claimed_by
                assert job.next_run_at is not None
                if owner is not None and job.next_run_at <= now - self.takeover:
                    behind.add(owner)
                    self._seen.pop(job.id, None)
                elif owner is not None:
                    self._seen[job.id] = (owner, now)
                elif (last := self._seen.pop(job.id, None)) is not None:
                    self._stopped[last[0]] = now  # a stopping process lets go of its jobs
            forget = now - self._memory
            self._stopped = {o: at for o, at in self._stopped.items() if at >= forget}
            for job_id in [j for j, (o, at) in self._seen.items()
                           if at < forget or o in self._stopped]:  # fmt: skip
                del self._seen[job_id]
            counts = Counter(o for o, _ in self._seen.values())
            counts[self.owner] += 0  # this process counts, with 0 jobs if it owns none
            moves = plan(dict(counts), behind - {self.owner})
            self._budget = {to: n for (giver, to), n in moves.items() if giver == self.owner}

    def hand_over(self) -> str | None:
        """The process to hand the job being claimed over to, if this one is to hand one
        over now (the caller claims it as a pair: its next tick is two ticks away)."""
        with self._lock:
            for to, left in self._budget.items():
                if left > 0:
                    self._budget[to] = left - 1
                    return to
            return None
