"""A candidate: a tick seen by the poller (or claimed here ahead of its time), waiting in
the timer queue (``timer_queue.py``); and ``run_order``, the order due work is taken in."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scheduler_service.records import Entry, Job

if TYPE_CHECKING:
    from scheduler_service.scheduler.claims import Claim


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
    claim: Claim | None = None  # claimed ahead: waits for its time, then a worker starts it
    ready: object = None  # its request, made ready while it waits (``Executor.prepare``)
    lead: timedelta | None = None  # handed out this long before ``due`` (else ``ahead``)
    worker: bool = False  # taken out holding a worker (``TimerQueue.take``)
    # Pre-claimed, waiting for our attempt before it: the job as last read.
    seen: Job | None = None

    @property
    def holds_claim(self) -> bool:
        """A tick of ours waiting here: claimed ahead, or pre-claimed."""
        return self.claim is not None or self.pre_claimed

    @property
    def priority(self) -> int:
        """The job's: retries, manual runs, replays and orphans carry the job too."""
        return self.job.priority


def run_order(candidate: Candidate) -> tuple[int, datetime, bool, int]:
    """Among the candidates due: the highest priority first, then the oldest due, then one
    claimed already (it starts at once; another holds its worker through its claim), then
    the first pushed. The one place that says in what order due work is claimed and
    started."""
    return (-candidate.priority, candidate.due, candidate.claim is None, candidate.seq)


def needs_worker(candidate: Candidate, now: datetime) -> bool:
    """A claimed tick to start, or one due now to claim (not a pre-claimed one to judge)."""
    if candidate.claim is not None:
        return True
    return candidate.due <= now and not candidate.pre_claimed
