"""Whose turn a job's tick is: the process that claimed the job's previous tick goes first
(``claimedBy``; or the process it handed the job over to in that claim, ``balance.py``).

That process queued the tick right after its claim; the others queue it only once it is
half a poll interval overdue (that process stopped or fell behind), and if such a
take-over claim loses to that process after all (alive, only late), they leave the job to
it for ``TAKEOVER_BACKOFF`` intervals rather than send a losing claim every tick.
Jobs that no process claimed last (new, or handed over by a process that stopped) are
claimed in an order of this process's own (``spread``): every process polls the same due
jobs, and in the same order they would all claim the same ones first, one process winning
each write, the others losing theirs (a round trip each), and the winner left with more
jobs than its share.

Correctness never rests on this: every claim is a compare-and-set. It spares the database
the losing claims of the other processes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from bson import ObjectId

from scheduler_service.records import Job

TAKEOVER_BACKOFF = 5  # poll intervals


class Affinity:
    def __init__(self, owner: str, poll_interval_ms: int) -> None:
        self.owner = owner
        self.takeover = timedelta(milliseconds=poll_interval_ms / 2)
        self._backoff = TAKEOVER_BACKOFF * timedelta(milliseconds=poll_interval_ms)
        self._outpaced: dict[ObjectId, datetime] = {}  # job id -> left to its process until
        self._lock = threading.Lock()

    def left_to_another(self, job: Job, now: datetime) -> bool:
        """Is this tick another process's to claim (it claimed the previous one), not yet
        overdue enough to take over, or recently shown to be alive?"""
        last = job.claimed_by
        if last is None or last == self.owner:
            return False
        with self._lock:
            if job.id in self._outpaced and self._outpaced[job.id] > now:
                return True
        assert job.next_run_at is not None
        return job.next_run_at > now - self.takeover

    def spread(self, jobs: Iterable[Job]) -> list[Job]:
        """``jobs`` in this process's own order (the same one at every poll). Not by a CRC
        of owner and job: a CRC is linear, so with owners of the same length two
        processes' orders differ by an XOR with a constant, and their first jobs were
        mostly the same (19 of 20 in a 3-process bench run)."""
        salt = self.owner.encode()
        return sorted(jobs, key=lambda job: hashlib.blake2b(
            salt + str(job.id).encode(), digest_size=8).digest())  # fmt: skip

    def note_lost(self, jobs: list[Job], now: datetime) -> None:
        """These claims were lost; those of other processes' jobs were take-overs, lost to
        a live process (they are *outpaced* here for a while)."""
        with self._lock:
            for job in jobs:
                if job.id is not None and job.claimed_by not in (None, self.owner):
                    self._outpaced[job.id] = now + self._backoff

    def forget_expired(self, now: datetime) -> None:
        with self._lock:
            for job_id in [job_id for job_id, until in self._outpaced.items() if until <= now]:
                del self._outpaced[job_id]
