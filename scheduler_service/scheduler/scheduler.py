"""A process's scheduler: a poller thread, a dispatcher thread and a bounded worker pool.

- ``Poller`` (``poller.py``) queues what falls due soon in the ``TimerQueue``; it claims
  nothing, and renews the leases of this process's running attempts.
- ``Dispatcher`` (``dispatcher.py``) takes each candidate at its due time (a scheduled
  tick ``AHEAD`` of it), has ``Claimer`` (``claimer.py``) claim it, and runs what was won
  on the pool with ``Executor`` (``executor.py``), which records the attempt and settles
  the tick.
- ``stop()`` stops claiming, gives back the ticks claimed ahead and not started, lets
  running attempts finish within ``SHUTDOWN_GRACE``, and drops the queued ticks, none of
  which is claimed, so other processes take them at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from pymongo.errors import PyMongoError

from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.ahead_check import AheadCheck
from scheduler_service.scheduler.alerts import AlertSender
from scheduler_service.scheduler.balance import Balance
from scheduler_service.scheduler.batched_writes import BatchedWrites
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimer import Claimer
from scheduler_service.scheduler.dispatcher import AHEAD, Dispatcher
from scheduler_service.scheduler.executor import Executor
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.poller import Poller
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue
from scheduler_service.stores.chains import ChainStore
from scheduler_service.stores.dead_letters import DeadLetterStore
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)


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
        dead_letters: DeadLetterStore,
        chains: ChainStore,
        wake: threading.Event | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.owner = owner or make_owner_id()
        self.ticks = ticks
        self.running = RunningAttempts()
        self.queue = TimerQueue(clock.now, ahead=AHEAD)
        self.affinity = Affinity(self.owner, config.scheduler_poll_interval_ms)
        self.balance = Balance(self.owner, config.scheduler_poll_interval_ms)
        self._stopping = threading.Event()
        self._wake = wake or threading.Event()
        self._threads: list[threading.Thread] = []
        lease = timedelta(milliseconds=config.job_lease_timeout_ms)
        self.alerts = AlertSender(dead_letters, config, clock, self.owner, cipher=cipher)
        interval = timedelta(milliseconds=config.scheduler_poll_interval_ms)
        # A settled tick's release waits for the job's next claim two intervals past that
        # claim's due time, longer while this process claims late (``releases.py``; shorter
        # folded fewer under overload).
        self.releases = Releases(ticks, self.owner, lease, hold=interval * 2)
        self._clock = clock
        self.poller = Poller(
            ticks, self.queue, self.affinity, self.running, clock, self.owner,
            interval=timedelta(milliseconds=config.scheduler_poll_interval_ms), lease=lease,
            # Large, because SecantusDB reads and sorts every due job whatever the limit
            # (MongoDB walks the {enabled, nextRunAt} index and stops; both read every due
            # job to sort a backlog by priority: ``Poller._due_ticks``).
            batch=max(2000, 16 * config.max_concurrent_jobs),
            stopping=self._stopping, wake=self._wake, alerts=self.alerts,
            balance=self.balance,
        )  # fmt: skip
        # A tick and the next in one claim when that one starts soon (``pre_claims.py``): its
        # claim then folds the releases of both, held up to an eighth of the lease for it.
        self.claimer = Claimer(ticks, executions, clock, self.owner, lease,
                               config.misfire_grace, self.running, self.releases,
                               pre_claim_within=min(self.poller.lookahead, lease / 8),
                               hand_over=self.balance.hand_over)  # fmt: skip
        self.executor = Executor(
            ticks, executions, config, clock, self.owner, self.running, self._stopping,
            dead_letters, chains, cipher=cipher,
            writes=BatchedWrites(executions, ticks, self.owner), alerts=self.alerts,
            wake=self._wake, releases=self.releases,
        )  # fmt: skip
        self.catch_up = CatchUp(self.running, config.misfire_grace)
        self.dispatcher = Dispatcher(
            self.queue, self.claimer, self.executor, self.catch_up, self.affinity, clock,
            workers=config.max_concurrent_jobs, lookahead=self.poller.lookahead,
            stopping=self._stopping, releases=self.releases,
            last_look=AheadCheck(ticks.collection, ticks.drop_entry),
        )  # fmt: skip

    def start(self) -> None:
        for name, target in (
            ("scheduler-poller", self.poller.run),
            ("scheduler-dispatcher", self.dispatcher.run),
            ("scheduler-releases", lambda: self.releases.run(self._clock.now, self._stopping)),
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

    def poll_once(self) -> bool:
        return self.poller.poll_once()

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming, let running attempts finish within the grace period. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        dropped = self.queue.close()
        self.releases.wake()
        for thread in self._threads:
            thread.join(5.0)
        unclaimed = self.dispatcher.unclaim_ahead()  # claimed ahead, not started
        grace = self.config.shutdown_grace_ms / 1000 if grace_s is None else grace_s
        if not self.running.wait_empty(grace):
            log.warning(
                "%d attempts still running after the %.0f s grace period; their leases "
                "will expire and another process will re-run them",
                len(self.running),
                grace,
            )
        self.dispatcher.shutdown()
        self.releases.close()  # held releases: one write per entry id
        assert self.executor.writes is not None
        self.executor.writes.close()
        self.alerts.close()
        self._release_jobs(dropped)
        log.info("scheduler %s stopped (%d queued ticks left unclaimed, %d claimed ahead given "
                 "back)", self.owner, len(dropped), unclaimed)

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
