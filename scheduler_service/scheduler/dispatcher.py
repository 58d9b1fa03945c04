"""The dispatcher thread and the worker pool: due candidates are claimed, then run.

The dispatcher takes a candidate due now from the timer queue only with an idle worker
(``MAX_CONCURRENT_JOBS``), so it never claims more at or after a tick's time than it can
run; of those due, the highest priority first (``timer_queue.run_order``). It takes every
other candidate it can in the same batch, has ``Claimer`` claim them (scheduled ticks that
share a plan in one write), and hands each tick won to the pool, where ``Executor`` makes
the attempt, records it and settles the tick; once answered, up to ``RECORDERS_PER_WORKER``
threads per worker record while the worker goes on. A tick due before our own late attempt
of the job's previous tick started waits for it (``catch_up.py``).

Claimed ahead (README, Architecture and Performance, for the why of each figure): a
scheduled tick of a job with nothing in flight (or only its settled tick whose release we
hold, ``releases.py``) is taken out ``AHEAD`` before its time and claimed then, its lease
and start set to its time. It holds no worker while it waits: a starter thread hands it to
a worker ``HANDOFF`` before its time, with a last look at its job (``ahead_check.py``); its
request is built ``EARLY`` and let go at its time (``sends_due``). One no worker started
within half its lease is given back; a stopping process gives back those not started
(``claimed_ahead.py``, ``unclaim``). Ticks claimed with the one before them
(``pre_claims.py``) are judged by ``PreClaimedTicks`` (``pre_claimed_ticks.py``) first.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from scheduler_service.clock import Clock
from scheduler_service.delivery import sends_due
from scheduler_service.scheduler import catch_up
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.ahead_check import AheadCheck, Verdict
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimed_ahead import ClaimedAhead
from scheduler_service.scheduler.claimer import CLAIM_BATCH, Claim, Claimer
from scheduler_service.scheduler.executor import Executor
from scheduler_service.scheduler.pre_claimed_ticks import PreClaimedTicks
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue

log = logging.getLogger(__name__)

AHEAD = timedelta(milliseconds=300)  # how long before its time a scheduled tick is claimed
READY_MARGIN = timedelta(milliseconds=20)  # a claim ahead back this early: made ready first
HANDOFF = READY_MARGIN  # a tick claimed ahead goes to a worker this long before its time
# Its worker wakes this long before its time and builds the request through to its first
# write, which waits for the time (``sends_due.hold``): building takes 0.4-0.5 ms of GIL.
EARLY = timedelta(milliseconds=10)
AHEAD_PER_WORKER = 10  # ticks claimed ahead waiting for their time, per worker, at most
# Threads recording answered attempts, per worker, at most: a record waits for its group
# commit (40-100 ms under load against a 7-13 ms request).
RECORDERS_PER_WORKER = 3


class Dispatcher:
    def __init__(self, queue: TimerQueue, claimer: Claimer, executor: Executor,
                 catch_up: CatchUp, affinity: Affinity, clock: Clock, *, workers: int,
                 lookahead: timedelta, stopping: threading.Event,
                 releases: Releases | None = None,
                 last_look: AheadCheck | None = None) -> None:  # fmt: skip
        self.queue = queue
        self.claimer = claimer
        self.executor = executor
        self.catch_up = catch_up
        self.affinity = affinity
        self.clock = clock
        self.lookahead = lookahead
        self.stopping = stopping
        self.releases = releases
        queue.count_workers(workers, AHEAD_PER_WORKER * workers)
        self.ahead = ClaimedAhead()
        self.last_look = last_look or AheadCheck()  # ``ahead_check.py``
        self.pre_claimed = PreClaimedTicks(queue, claimer, catch_up, clock, self.ahead, self,
                                           releases)  # fmt: skip
        # A thread per worker, and those recording attempts whose requests were answered.
        self._recording = threading.BoundedSemaphore(RECORDERS_PER_WORKER * workers)
        self.pool = ThreadPoolExecutor((1 + RECORDERS_PER_WORKER) * workers,
                                       thread_name_prefix="job")  # fmt: skip

    def run(self) -> None:
        """The thread's loop: take what can be taken (``TimerQueue.take``), until closed.
        A candidate due now is taken out only with an idle worker (so by priority among all
        due then); the ticks claimed ahead are handed to workers at their time by a thread
        of their own (``_start_claimed_ticks``), not behind this one's claims and reads."""
        starter = threading.Thread(target=self._start_claimed_ticks, daemon=True,
                                   name="scheduler-starter")  # fmt: skip
        starter.start()
        try:
            while True:
                batch = self.queue.take(CLAIM_BATCH)
                if batch is None:
                    return
                if self.stopping.is_set():
                    self.give_back(batch)
                    return
                self.dispatch(batch)
        finally:
            starter.join(5)

    def _start_claimed_ticks(self) -> None:
        """The starter thread's loop: each tick claimed ahead, at its time, to a worker."""
        while (batch := self.queue.take(CLAIM_BATCH, claimed=True)) is not None:
            if self.stopping.is_set():
                self.give_back(batch)  # given back by ``unclaim_ahead``
                return
            self.last_look.look([c.claim for c in batch if c.claim], self.clock.now())
            for candidate in batch:
                self._start_claimed(candidate)

    def dispatch(self, batch: list[Candidate]) -> None:
        """Judge the pre-claimed ticks and claim the rest (``Claimer``): each tick won starts
        on the worker its candidate holds, or, taken out ahead, waits in the queue for its
        time and a worker."""
        pre = [candidate for candidate in batch if candidate.pre_claimed]
        if pre:
            self.pre_claimed.check(pre)
            batch = [candidate for candidate in batch if not candidate.pre_claimed]
        due = []
        now = self.clock.now()
        for candidate in batch:
            if candidate.due > now and not self._may_claim_ahead(candidate):
                self.delay(candidate, candidate.due)
            elif candidate.entry is None and self.catch_up.must_wait(candidate.job, now):
                self.delay(candidate, self.clock.now() + catch_up.RECHECK)
            else:
                due.append(candidate)
        if not due:
            return
        claims = self.claimer.claim(due)
        # Claims refused, not unanswered: the jobs' processes may be alive.
        lost = [c.job for c in claims.refused if c.entry is None]
        self.affinity.note_lost(lost, self.clock.now())
        scheduled = [claim for _, claim in claims.won if claim.following is not None]
        self.catch_up.claimed([claim.key for claim in scheduled])
        self.pre_claimed.queue_claimed(scheduled)
        self._queue_follow_ups(scheduled)
        self.give_back(claims.refused + claims.unanswered)
        now = self.clock.now()
        self.ahead.add(claim for _, claim in claims.won
                       if claim.entry.started_at is not None and claim.entry.started_at > now)
        for candidate, claim in claims.won:
            self.start(candidate, claim)

    def _may_claim_ahead(self, candidate: Candidate) -> bool:
        """A scheduled tick whose job has nothing in flight but our held settled ticks, or a
        tick claimed already with the one before (judged before its time)."""
        if candidate.pre_claimed:
            return True
        if candidate.entry is not None:
            return False
        job = candidate.job
        releases = self.releases
        return all(releases is not None and releases.holds(job.id, entry.id)
                   for entry in job.inflight)  # fmt: skip

    def _queue_follow_ups(self, claims: list[Claim]) -> None:
        """Queue each claimed job's next tick now if it falls within the look-ahead.

        A poll that ran just before a claim still saw the old ``nextRunAt``, so without this
        an every-second job's next tick would wait for the poll after it is due. The queued
        snapshot is the job as the claim left it (the CAS checks exactly that), marked as a
        follow-up.
        """
        now = self.clock.now()
        for claim in claims:
            following = claim.following
            last = (claim.entry, *claim.pre_claimed)[-1]
            start = last.started_at or now  # a claim ahead: its tick's time
            if claim.handed_to is not None:  # the job's next tick is another's (balance.py)
                continue
            if following is not None and following <= max(now, start) + self.lookahead:
                snapshot = claim.job_as_left()
                key = ("tick", claim.job.id, following)
                if self.queue.push(following, key, snapshot, follow_up=True) and self.releases:
                    # We claim it next: the settled ticks' releases can go with that claim.
                    self.releases.expect(claim.job.id, tuple(e.id for e in snapshot.inflight),
                                         following)  # fmt: skip

    def start(self, candidate: Candidate, claim: Claim) -> None:
        """Run the claim on the worker the candidate holds; one taken out ahead, without a
        worker, waits in the queue for its time (its request made ready meanwhile)."""
        if candidate.worker:
            self.pool.submit(self._run, candidate, claim, None)
            return
        self.ahead.add([claim])  # started, or given back by a stopping process
        ready = self.executor.prepare(claim) if self._worth_preparing(claim) else None
        self.queue.wait_claimed(candidate, claim, ready, HANDOFF)

    def _start_claimed(self, candidate: Candidate) -> None:
        """A tick claimed ahead, taken out with a worker at (about) its time: it starts, or,
        taken out more than half its lease late (every worker was busy), it is given back (a
        waiting entry, for any process), so that its lease never runs out before a late
        attempt could renew it."""
        claim = candidate.claim
        assert claim is not None and claim.entry.started_at is not None
        entry = claim.entry
        if self.clock.now() - entry.started_at <= (entry.due_at - entry.started_at) / 2:
            self.pool.submit(self._run, candidate, claim, candidate.ready)
            return
        self.give_back([candidate])
        self.catch_up.ended(claim.key)
        self.last_look.forget(claim)
        if self.ahead.take(claim.key):
            try:
                self.claimer.ticks.unclaim([(claim.job.id, entry)], self.claimer.owner)
            except PyMongoError as exc:  # its lease runs out instead: then re-run by any
                log.warning("could not give back job %s's late tick: %s", claim.job.id, exc)

    def delay(self, candidate: Candidate, until: datetime) -> None:
        """Free the candidate's worker, if it holds one; it is taken out again at ``until``
        (not ahead)."""
        if candidate.worker:
            self.queue.free_worker()
        self.queue.delay(candidate, until, early=False)

    def give_back(self, candidates: list[Candidate], *, done: bool = True) -> None:
        """Free the workers the candidates hold; they leave the queue (``done``)."""
        for candidate in candidates:
            if candidate.worker:
                candidate.worker = False
                self.queue.free_worker()
            if done:
                self.queue.done(candidate.key)

    def _run(self, candidate: Candidate, claim: Claim, ready: object) -> None:
        """A claimed tick runs even while stopping: its attempt is what the grace is for.
        One claimed ahead has its request made ready before it waits for its time. Once its
        request is answered, its worker is free for the next tick while this thread records
        the attempt, as long as fewer than ``RECORDERS_PER_WORKER`` threads per worker are
        recording."""
        recording = False

        def answered() -> None:
            nonlocal recording
            recording = self._recording.acquire(blocking=False)
            if recording:
                self.give_back([candidate], done=False)

        try:
            if ready is None and self._worth_preparing(claim):
                ready = self.executor.prepare(claim)
            with self._expecting(claim):
                if self._starts(claim):
                    self.executor.execute(claim, ready, answered=answered)  # type: ignore
        finally:
            self.catch_up.ended(claim.key)
            if recording:
                self._recording.release()
            self.give_back([candidate])

    def _expecting(self, claim: Claim) -> AbstractContextManager[None]:
        """A tick claimed ahead sends at its time: answers read meanwhile wait for it
        (``sends_due``)."""
        started = claim.entry.started_at
        if started is None or not self.ahead.holds(claim.key):
            return nullcontext()
        return sends_due.expecting(sends_due.due_at(started, self.clock.now(),
                                                    sends_due.SENDS.now()))

    def _worth_preparing(self, claim: Claim) -> bool:
        """Claimed ahead with at least ``READY_MARGIN`` left before its time: one whose
        claim came back later is sent at once, not made ready first."""
        if not self.ahead.holds(claim.key):
            return False
        assert claim.entry.started_at is not None
        return claim.entry.started_at - self.clock.now() >= READY_MARGIN

    def _starts(self, claim: Claim) -> bool:
        """Wait for a tick claimed ahead to be due, or ``EARLY`` before (its request is then
        built, and its first write waits for the time, ``_expecting``); False if the
        process stops first (then ``unclaim_ahead`` gives it back)."""
        if not self.ahead.holds(claim.key):
            return True
        assert claim.entry.started_at is not None
        early = EARLY if sends_due.expected() else timedelta(0)
        wait = (claim.entry.started_at - early - self.clock.now()).total_seconds()
        if wait > 0 and self.stopping.wait(wait):
            return False
        left = (claim.entry.started_at - self.clock.now()).total_seconds()
        if self.last_look.verdict(claim, time.monotonic() + left) is not Verdict.RUN:
            self.ahead.take(claim.key)  # deleted or disabled since its claim: not run
            return False
        return self.ahead.take(claim.key)

    def unclaim_ahead(self) -> int:
        """Give back the ticks claimed ahead and not started (the dispatcher has stopped)."""
        return self.ahead.give_back_all(self.claimer.ticks, self.claimer.owner)

    def shutdown(self) -> None:
        """Drop the work not started; running attempts go on (``Scheduler.stop`` waits)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.last_look.shutdown()

