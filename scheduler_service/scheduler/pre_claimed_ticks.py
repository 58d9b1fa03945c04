"""Pre-claimed ticks in this process: queued when their claim comes back, judged when taken
out, then run by a worker or let go of.

``pre_claims.py`` says which ticks to claim with the one before and how to judge one taken
out (pure functions of the job); this is what the dispatcher does with them: each is
queued as claimed ahead (``Candidate.pre_claimed``, holding no worker) and registered with
the ticks claimed ahead (``claimed_ahead.py``); taken out ``dispatcher.AHEAD`` before its
time, it is judged on one read of its jobs and handed to a worker, looked at again shortly,
or let go of with the write its verdict says.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.records import Job
from scheduler_service.scheduler import catch_up, pre_claims
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimed_ahead import ClaimedAhead
from scheduler_service.scheduler.claimer import Claim, Claimer
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue

log = logging.getLogger(__name__)


class Workers(Protocol):
    """What the dispatcher does with a candidate that holds one of its worker slots."""

    def start(self, candidate: Candidate, claim: Claim) -> None:
        """Run the claim on that worker."""

    def delay(self, candidate: Candidate, until: datetime) -> None:
        """Free the slot; the candidate is taken out again at ``until``."""

    def give_back(self, candidates: list[Candidate]) -> None:
        """Free the slots; the candidates leave the queue."""


class PreClaimedTicks:
    def __init__(self, queue: TimerQueue, claimer: Claimer, catch_up: CatchUp, clock: Clock,
                 ahead: ClaimedAhead, workers: Workers,
                 releases: Releases | None) -> None:  # fmt: skip
        self.queue = queue
        self.claimer = claimer
        self.catch_up = catch_up
        self.clock = clock
        self.ahead = ahead
        self.workers = workers
        self.releases = releases

    def queue_claimed(self, claims: list[Claim]) -> None:
        """Queue the ticks claimed with the ones before them, as claimed ahead: each taken out
        ``AHEAD`` of its time, judged (``check``), then run by a worker."""
        for claim in claims:
            if not claim.pre_claimed:
                continue
            snapshot = claim.job_as_left()
            keys = [(claim.job.id, entry.id) for entry in claim.pre_claimed]
            self.catch_up.claimed(keys)
            self.ahead.add(Claim(snapshot, entry) for entry in claim.pre_claimed)
            for entry in claim.pre_claimed:
                assert entry.started_at is not None
                self.queue.push(entry.started_at, ("pre", claim.job.id, entry.id), snapshot,
                                entry, pre_claimed=True)  # fmt: skip

    def check(self, candidates: list[Candidate]) -> None:
        """Judge pre-claimed ticks on one read of their jobs (``pre_claims.judge``) and run,
        skip, release or re-check each; on a database error, look again shortly. One that
        waits for our own attempt before it (``WAIT``) is looked at again without a read
        while that attempt still runs (``Candidate.seen``): under overload, a read every
        ``catch_up.RECHECK`` for each such tick added to what the database fell behind on."""
        now = self.clock.now()
        still = [c for c in candidates if c.seen is not None and self._must_wait(c, c.seen, now)]
        for candidate in still:
            self._recheck(candidate, pre_claims.Verdict.WAIT)
        candidates = [c for c in candidates if c not in still]
        if not candidates:
            return
        try:
            fresh = {job.id: job for job in
                     self.claimer.ticks.jobs_by_id([c.job.id for c in candidates])}  # fmt: skip
        except PyMongoError as exc:
            log.warning("database error while checking %d ticks claimed ahead: %s",
                        len(candidates), exc)  # fmt: skip
            for candidate in candidates:
                self._recheck(candidate, pre_claims.Verdict.WAIT)
            return
        for candidate in candidates:
            entry = candidate.entry
            assert entry is not None and candidate.job.id is not None
            job = fresh.get(candidate.job.id)
            held = self._held(job)
            wait = job is not None and self._must_wait(candidate, job, self.clock.now())
            verdict = pre_claims.judge(candidate.job, entry, job, self.claimer.owner,
                                       settled_here=held, must_wait=wait,
                                       now=self.clock.now())  # fmt: skip
            candidate.seen = job if verdict is pre_claims.Verdict.WAIT else None
            if verdict is pre_claims.Verdict.RUN:
                assert job is not None
                self.workers.start(candidate, Claim(job, entry))
            else:
                self._recheck(candidate, verdict)

    def _held(self, job: Job | None) -> set[object]:
        """The ids of ``job``'s settled entries whose releases this process holds."""
        if job is None or self.releases is None:
            return set()
        return {e.id for e in job.inflight if self.releases.holds(job.id, e.id)}

    def _must_wait(self, candidate: Candidate, job: Job, now: datetime) -> bool:
        entry = candidate.entry
        assert entry is not None
        return self.catch_up.must_wait(
            pre_claims.in_flight_besides(job, entry, self._held(job)), now)

    def _recheck(self, candidate: Candidate, verdict: pre_claims.Verdict) -> None:
        """A pre-claimed tick not to run now: look again soon (``WAIT``, within the misfire
        grace of its start), else let go of it (``verdict``: with which write; a ``WAIT``
        past the grace, after database errors, is left to its lease)."""
        entry, job_id, owner = candidate.entry, candidate.job.id, self.claimer.owner
        assert entry is not None and entry.started_at is not None and job_id is not None
        now = self.clock.now()
        late = now - entry.started_at > self.claimer.misfire_grace
        if verdict is pre_claims.Verdict.WAIT and not late:
            self.workers.delay(candidate, now + catch_up.RECHECK)
            return
        self.ahead.take((job_id, entry.id))
        self.catch_up.ended((job_id, entry.id))
        self.workers.give_back([candidate])
        try:
            if verdict is pre_claims.Verdict.RELEASE:
                self.claimer.ticks.drop_entry(job_id, entry.id, owner)
            elif verdict is pre_claims.Verdict.GIVE_BACK:
                self.claimer.ticks.unclaim([(job_id, entry)], owner)
            elif verdict is pre_claims.Verdict.SKIP and self.claimer.ticks.skip_pre_claimed(
                    job_id, entry.id, owner):  # fmt: skip
                metrics.record_skipped("overlap")
                log.info("job %s: tick %s skipped, the previous one is still running",
                         job_id, entry.scheduled_at.isoformat())  # fmt: skip
        except PyMongoError as exc:  # its lease runs out instead: then re-run by any process
            log.warning("database error while letting go of job %s's tick: %s", job_id, exc)
