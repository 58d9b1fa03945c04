"""The scheduler: a poller thread, a dispatcher thread and a bounded thread pool.

- The poller asks MongoDB every ``SCHEDULER_POLL_INTERVAL`` ms (or at once when woken by
  the API) for ticks due within the next two intervals, and queues them in a ``TimerQueue``.
  It also renews the leases of the attempts this process runs.
- A job's scheduled tick is left to the process that claimed the job's previous one (its
  ``claimedBy``) until it is overdue: ``Affinity``.
- The dispatcher takes each queued tick at its exact time, waits for a free worker (so it
  never claims more than it can run), has ``Claimer`` claim what is due (a compare-and-set
  per tick or group of ticks), and hands what was won to the pool, where ``Executor``
  makes the attempt, records it and settles the tick.
- ``stop()`` stops claiming, lets running attempts finish within ``SHUTDOWN_GRACE``, and
  drops the queued ticks, none of which is claimed, so other processes take them at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.scheduler import catch_up
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.batched_writes import BatchedWrites
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimer import CLAIM_BATCH, Claim, Claimer
from scheduler_service.scheduler.executor import Executor
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0  # while the database is down: retry at most this far apart


def make_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    """Built by the composition root (``runtime.compose``), which hands it its stores, the
    header cipher and ``wake``, the event the job service sets when a job changes."""

    def __init__(
        self,
        ticks: TickStore,
        executions: ExecutionStore,
        config: Config,
        clock: Clock,
        *,
        cipher: HeaderCipher,
        wake: threading.Event | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.owner = owner or make_owner_id()
        self.ticks = ticks
        self.running = RunningAttempts()
        # Ticks fetched per poll. Large, because SecantusDB reads and sorts every due job
        # whatever the limit (MongoDB walks the {enabled, nextRunAt} index and stops).
        self.batch = max(2000, 16 * config.max_concurrent_jobs)
        self._stopping = threading.Event()
        self._wake = wake or threading.Event()
        self._queue = TimerQueue(clock.now)
        self.catch_up = CatchUp(self.running, config.misfire_grace)
        self.affinity = Affinity(self.owner, config.scheduler_poll_interval_ms)
        self._slots = threading.BoundedSemaphore(config.max_concurrent_jobs)
        self._pool = ThreadPoolExecutor(config.max_concurrent_jobs, thread_name_prefix="job")
        self._threads: list[threading.Thread] = []
        lease = timedelta(milliseconds=config.job_lease_timeout_ms)
        self.claimer = Claimer(ticks, executions, clock, self.owner, lease,
                               config.misfire_grace, self.running)  # fmt: skip
        self.executor = Executor(
            self.ticks,
            executions,
            config,
            clock,
            self.owner,
            self.running,
            self._stopping,
            cipher=cipher,
            writes=BatchedWrites(executions, self.ticks, self.owner),
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (
            ("scheduler-poller", self._poll_loop),
            ("scheduler-dispatcher", self._dispatch_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "scheduler %s started: poll every %d ms, %d workers",
            self.owner,
            self.config.scheduler_poll_interval_ms,
            self.config.max_concurrent_jobs,
        )

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming, let running attempts finish within the grace period. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        dropped = self._queue.close()
        for thread in self._threads:
            thread.join(5.0)
        grace = self.config.shutdown_grace_ms / 1000 if grace_s is None else grace_s
        if not self.running.wait_empty(grace):
            log.warning(
                "%d attempts still running after the %.0f s grace period; their leases "
                "will expire and another process will re-run them",
                len(self.running),
                grace,
            )
        self._pool.shutdown(wait=False, cancel_futures=True)
        assert self.executor.writes is not None
        self.executor.writes.close()
        self._release_jobs(dropped)
        log.info("scheduler %s stopped (%d queued ticks left unclaimed)", self.owner, len(dropped))

    def _release_jobs(self, dropped: list[Candidate]) -> None:
        """Hand the jobs whose next ticks this process had queued to the others at once."""
        mine = [
            candidate.job.id
            for candidate in dropped
            if candidate.entry is None
            and candidate.job.claimed_by == self.owner
            and candidate.job.id is not None
        ]
        if not mine:
            return
        try:
            self.ticks.release_jobs(mine, self.owner)
        except PyMongoError as exc:  # they are taken over once overdue instead
            log.warning("could not hand over %d jobs: %s", len(mine), exc)

    def wake(self) -> None:
        """Poll now (a job was created or changed, or a manual run was queued)."""
        self._wake.set()

    @property
    def is_running(self) -> bool:
        return bool(self._threads) and not self._stopping.is_set()

    def status(self) -> dict[str, object]:
        return {
            "isRunning": self.is_running,
            "runningJobs": len(self.running),
            "maxConcurrentJobs": self.config.max_concurrent_jobs,
            "pollInterval": self.config.scheduler_poll_interval_ms,
        }

    # -- polling -----------------------------------------------------------------------

    def _poll_loop(self) -> None:
        interval = self.config.scheduler_poll_interval_ms / 1000
        failing_since = None
        backoff = interval
        while not self._stopping.is_set():
            try:
                full = self.poll_once()
                if failing_since is not None:
                    log.info("database reachable again; scheduling resumed")
                failing_since, backoff = None, interval
            except PyMongoError as exc:
                metrics.record_database_error("poller")
                if failing_since is None:
                    log.error("database unreachable, scheduling paused: %s", exc)
                    failing_since = self.clock.now()
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                self._wake.wait(backoff)
                self._wake.clear()
                continue
            if full:  # more is due than one batch: poll again as soon as the queue drains
                self._queue.wait_below(self.batch // 2, interval)
                continue
            self._wake.wait(interval)
            self._wake.clear()

    @property
    def lookahead(self) -> timedelta:
        """How far ahead ticks are queued: two intervals, so that a slow poll (the next one
        starts an interval after this one ends) never leaves a gap."""
        return timedelta(milliseconds=2 * self.config.scheduler_poll_interval_ms)

    @metrics.POLL_DURATION.time()
    def poll_once(self) -> bool:
        """Queue what falls due within the look-ahead; renew leases. True if a batch was full."""
        now = self.clock.now()
        horizon = now + self.lookahead
        due = self.ticks.due_ticks(horizon, self.batch)
        wanted = [
            tick.id
            for tick in due
            if tick.id is not None
            and not self.affinity.left_to_another(tick, now)
            and not self._queue.holds(("tick", tick.id, tick.next_run_at))
        ]
        for job in self.ticks.jobs_by_id(wanted):
            # Read a moment after the ticks: re-check what may have changed in between.
            due_at = job.next_run_at
            if not job.enabled or due_at is None or due_at > horizon:
                continue
            if not self.affinity.left_to_another(job, now):
                self._queue.push(due_at, ("tick", job.id, due_at), job)
        with_entries = self.ticks.jobs_with_due_entries(horizon, self.batch)
        mine = self.running.keys()
        for job in with_entries:
            for entry in job.inflight:
                # Our own running attempts renew their leases; an entry of ours that runs
                # nowhere (a claim whose reply was lost) is re-claimed like anyone's.
                if entry.due_at > horizon or (job.id, entry.id) in mine:
                    continue
                self._queue.push(entry.due_at, ("entry", entry.id, entry.due_at), job, entry)
        self._renew_leases(now)
        self.affinity.forget_expired(now)
        return len(due) >= self.batch or len(with_entries) >= self.batch

    def _renew_leases(self, now: datetime) -> None:
        """Renew leases a third of the way through, so a live process never loses one."""
        lease = timedelta(milliseconds=self.config.job_lease_timeout_ms)
        stale = [a for a in self.running.snapshot() if now - a.renewed_at >= lease / 3]
        if stale:
            self.ticks.renew_leases(
                [(a.job_id, a.entry_id) for a in stale], self.owner, now + lease
            )
            self.running.mark_renewed([(a.job_id, a.entry_id) for a in stale], now)

    # -- dispatching -------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        """Take what is due, one free worker per tick; claim scheduled ticks together."""
        while True:
            candidate = self._queue.pop_due()
            if candidate is None:
                return
            while not self._slots.acquire(timeout=0.5):
                if self._stopping.is_set():
                    return
            batch = [candidate]
            while len(batch) < CLAIM_BATCH and self._slots.acquire(blocking=False):
                more = self._queue.pop_due_nowait()
                if more is None:
                    self._slots.release()
                    break
                batch.append(more)
            if self._stopping.is_set():
                self._give_back(batch)
                return
            self._dispatch(batch)

    def _dispatch(self, batch: list[Candidate]) -> None:
        """Claim the batch (``Claimer``) and hand each tick won to a worker."""
        due = []
        for candidate in batch:
            if candidate.entry is None and self.catch_up.must_wait(candidate.job, self.clock.now()):
                self._slots.release()
                self._queue.delay(candidate, self.clock.now() + catch_up.RECHECK)
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
        self._queue_following(scheduled)
        self._give_back(claims.refused + claims.unanswered)
        for candidate, claim in claims.won:
            self._pool.submit(self._run, candidate, claim)

    def _queue_following(self, claims: list[Claim]) -> None:
        """Queue each claimed job's next tick now if it falls within the look-ahead.

        A poll that ran just before a claim still saw the old ``nextRunAt``, so without this
        an every-second job's next tick would wait for the poll after it is due. The queued
        snapshot is the job as the claim left it (the CAS checks exactly that), marked as a
        follow-up.
        """
        horizon = self.clock.now() + self.lookahead
        for claim in claims:
            following = claim.following
            if following is not None and following <= horizon:
                snapshot = replace(claim.job, next_run_at=following, inflight=(claim.entry,),
                                   claimed_by=self.owner)  # fmt: skip
                key = ("tick", claim.job.id, following)
                self._queue.push(following, key, snapshot, follow_up=True)

    def _give_back(self, candidates: list[Candidate]) -> None:
        for candidate in candidates:
            self._slots.release()
            self._queue.done(candidate.key)

    def _run(self, candidate: Candidate, claim: Claim) -> None:
        """A claimed tick runs even while stopping: its attempt is what the grace is for."""
        try:
            self.executor.execute(claim)
        finally:
            self.catch_up.ended(claim.key)
            self._give_back([candidate])
