"""The poller thread: what falls due soon goes to the timer queue; nothing is claimed here.

Every ``SCHEDULER_POLL_INTERVAL`` ms (or at once when woken by the job service) it reads the
ticks due within the look-ahead (``stores/ticks.py``), counts who owns them
(``balance.py``), leaves to another process the jobs that process claimed last, or was
handed over (``affinity.py``), and queues the rest as candidates
(``timer_queue.py``) with the waiting and orphaned entries due too. It also renews the
leases of the attempts this process runs, and now and then takes over the dead-letter
alerts that processes which died left unsent (``alerts.py``). While the database is
unreachable it retries, backing off up to ``MAX_BACKOFF_S``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.records import Job
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.alerts import AlertSender
from scheduler_service.scheduler.balance import Balance
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import TimerQueue
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0  # while the database is down: retry at most this far apart


@dataclass
class Poller:
    ticks: TickStore
    queue: TimerQueue
    affinity: Affinity
    running: RunningAttempts
    clock: Clock
    owner: str
    interval: timedelta  # SCHEDULER_POLL_INTERVAL
    lease: timedelta  # JOB_LEASE_TIMEOUT
    batch: int  # ticks fetched per poll at most
    stopping: threading.Event
    wake: threading.Event
    alerts: AlertSender | None = None  # takes over alerts left by processes that died
    balance: Balance | None = None  # learns from each poll's due jobs who owns how many
    _backlog: bool = field(default=False, init=False)  # the last poll found a batch due

    @property
    def lookahead(self) -> timedelta:
        """How far ahead ticks are queued: two intervals, so that a slow poll (the next one
        starts an interval after this one ends) never leaves a gap."""
        return 2 * self.interval

    def run(self) -> None:
        """The thread's loop, until ``stopping`` is set."""
        interval = self.interval.total_seconds()
        failing_since = None
        backoff = interval
        while not self.stopping.is_set():
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
                self.wake.wait(backoff)
                self.wake.clear()
                continue
            if full:  # more is due than one batch: poll again as soon as the queue drains
                self.queue.wait_below(self.batch // 2, interval)
                continue
            self.wake.wait(interval)
            self.wake.clear()

    @metrics.POLL_DURATION.time()
    def poll_once(self) -> bool:
        """Queue what falls due within the look-ahead; renew leases. True if a batch was full."""
        now = self.clock.now()
        horizon = now + self.lookahead
        due = self._due_ticks(horizon)
        if self.balance is not None:
            self.balance.observe(due, now)
        wanted = [
            tick.id
            for tick in due
            if tick.id is not None
            and not self.affinity.left_to_another(tick, now)
            and not self.queue.holds(("tick", tick.id, tick.next_run_at))
        ]
        jobs = self.affinity.spread(self.ticks.jobs_by_id(wanted))
        with_entries = self.ticks.jobs_with_due_entries(horizon, self.batch)
        mine = self.running.keys()
        # All at once: what this poll finds already due is then started by priority.
        with self.queue.together():
            for job in jobs:
                # Read a moment after the ticks: re-check what may have changed in between.
                due_at = job.next_run_at
                if not job.enabled or due_at is None or due_at > horizon:
                    continue
                if not self.affinity.left_to_another(job, now):
                    self.queue.push(due_at, ("tick", job.id, due_at), job)
            for job in with_entries:
                for entry in job.inflight:
                    # Our own running attempts renew their leases; an entry of ours that
                    # runs nowhere (a claim whose reply was lost) is re-claimed like anyone's.
                    if entry.due_at > horizon or (job.id, entry.id) in mine:
                        continue
                    # Keyed by job too: ticks claimed together share one entry id.
                    key = ("entry", job.id, entry.id, entry.due_at)
                    self.queue.push(entry.due_at, key, job, entry)
        self._renew_leases(now)
        if self.alerts is not None:
            self.alerts.sweep_if_due(now, self.ticks.jobs_by_id)
        self.affinity.forget_expired(now)
        return len(due) >= self.batch or len(with_entries) >= self.batch

    def _due_ticks(self, horizon: datetime) -> list[Job]:
        """The due ticks, a batch at most. Earliest first while a batch holds all that is
        due (the timer queue orders them); once more is due, highest priority first, so a
        backlog of low-priority ticks does not hide a high-priority one from the poll. The
        sort by priority reads every due job, so it is used only while there is a backlog."""
        if not self._backlog:
            due = self.ticks.due_ticks(horizon, self.batch)
            if len(due) < self.batch:
                return due
        due = self.ticks.due_ticks(horizon, self.batch, by_priority=True)
        self._backlog = len(due) >= self.batch
        return due

    def _renew_leases(self, now: datetime) -> None:
        """Renew leases a third of the way through, so a live process never loses one."""
        stale = [a for a in self.running.snapshot()
                 if now - a.renewed_at >= (a.lease or self.lease) / 3]  # fmt: skip
        if stale:
            keys = [(a.job_id, a.entry_id) for a in stale]
            self.ticks.renew_leases(keys, self.owner, now + self.lease)
            self.running.mark_renewed(keys, now)
