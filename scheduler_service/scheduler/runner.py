"""Run one candidate: claim it, make the attempt, record it, and settle the tick.

Every database write here either is a compare-and-set that decides who runs a tick, or
records what happened. The runner never raises into the scheduler: failures are logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import DecryptionError, HeaderCipher
from scheduler_service.logging_setup import redact_urls
from scheduler_service.scheduler.attempt import AttemptOutcome, AttemptRequest, perform
from scheduler_service.scheduler.attempt import thread_session as default_session
from scheduler_service.scheduler.backoff import retry_delay_ms, should_retry
from scheduler_service.scheduler.batched_writes import BatchedWrites, DirectWrites
from scheduler_service.scheduler.durable import durable
from scheduler_service.scheduler.payload import outgoing_headers, render_body
from scheduler_service.scheduler.planning import plan_tick
from scheduler_service.scheduler.running import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate
from scheduler_service.stores.executions import ExecutionStore, attempt_record
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

CLAIM_BATCH = 200  # jobs claimed in one write at most
FOLLOW_UP = "_followUp"  # marks a snapshot queued right after this process claimed the tick before

ORPHAN_MESSAGE = "attempt abandoned: the process running it stopped before recording a result"


@dataclass
class TickRunner:
    ticks: TickStore
    executions: ExecutionStore
    config: Config
    clock: Clock
    owner: str
    running: RunningAttempts
    stopping: threading.Event
    session_factory: Callable[[], Any] = default_session
    cipher: HeaderCipher = field(default_factory=HeaderCipher)
    writes: BatchedWrites | DirectWrites | None = None

    def __post_init__(self) -> None:
        if self.writes is None:
            self.writes = DirectWrites(self.executions, self.ticks, self.owner)

    @property
    def lease(self) -> timedelta:
        return timedelta(milliseconds=self.config.job_lease_timeout_ms)

    def run(self, candidate: Candidate) -> None:
        """Claim and run one candidate (a waiting or orphaned entry, or a scheduled tick)."""
        with self._guard(candidate.job):
            if candidate.entry is None:
                for job, entry, _ in self.claim_scheduled([candidate.job]):
                    self._execute(job, entry)
            else:
                self._run_entry(candidate.job, candidate.entry)

    def run_claimed(self, job: dict[str, Any], entry: dict[str, Any]) -> None:
        """Run a tick won by ``claim_scheduled``."""
        with self._guard(job):
            self._execute(job, entry)

    @contextmanager
    def _guard(self, job: dict[str, Any]) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:  # an unknown claim outcome counts as lost
            metrics.record_database_error("runner")
            log.warning("database error while handling job %s: %s", job["_id"], exc)
        except Exception:
            log.exception("unexpected error while handling job %s", job["_id"])

    def claim_scheduled(
        self, jobs: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], dict[str, Any], datetime]]:
        """Claim the scheduled ticks of ``jobs``; return (job, entry, its new nextRunAt) of
        those won.

        Jobs whose ticks share a plan (same tick, same next one, same overlap rule: e.g. all
        the every-second jobs) are claimed in one write. Missed ticks skipped by policy and
        ticks refused by the overlap rule are moved past here.
        """
        now = self.clock.now()
        grace = self.config.misfire_grace
        # Claimed together: jobs with the same stored tick (the claim's compare-and-set
        # value), the same tick to run, the same next one and the same overlap rule.
        groups: dict[tuple[datetime, datetime, datetime, bool], list[dict[str, Any]]] = {}
        for job in jobs:
            policy = job.get("missedRunPolicy", "COALESCE")
            plan = plan_tick(job["schedule"], job["nextRunAt"], now, policy, grace)
            if plan.run is None:
                if self.ticks.skip_tick(job, plan.following, plan.skipped):
                    metrics.record_skipped("missed", plan.skipped)
                continue
            forbid = job.get("concurrencyPolicy", "FORBID") == "FORBID"
            groups.setdefault((job["nextRunAt"], plan.run, plan.following, forbid), []).append(job)
        won: list[tuple[dict[str, Any], dict[str, Any], datetime]] = []
        for (_, run, following, forbid), members in groups.items():
            for start in range(0, len(members), CLAIM_BATCH):
                batch = members[start : start + CLAIM_BATCH]
                entry = self._new_entry(run, now)
                won_ids = self.ticks.claim_ticks(
                    batch, entry, following, forbid_overlap=forbid, started_at=now
                )
                won.extend((job, entry, following) for job in batch if job["_id"] in won_ids)
                for job in batch:
                    if job["_id"] not in won_ids:
                        self._lost(job, run, following, forbid)
        return won

    def _lost(self, job: dict[str, Any], run: datetime, following: datetime, forbid: bool) -> None:
        if (
            forbid
            and self._maybe_busy(job)
            and self.ticks.skip_tick(job, following, only_if_busy=True)
        ):
            metrics.record_skipped("overlap")
            log.info(
                "job %s: tick %s skipped, the previous one is still running",
                job["_id"],
                run.isoformat(),
            )
        else:  # another process claimed it first, or the job changed since the poll
            metrics.CLAIM_CONFLICTS.inc()

    def _maybe_busy(self, job: dict[str, Any]) -> bool:
        """Could the overlap rule have refused this claim? Yes if the job had a tick in flight
        when polled. For a next tick queued right after our own claim, only while that
        attempt of ours still runs: otherwise the claim was lost to another process, and a
        skip write would only cost the database a round trip."""
        if job.get(FOLLOW_UP):
            return any((job["_id"], entry["id"]) in self.running for entry in job["inflight"])
        return bool(job.get("inflight"))

    def _run_entry(self, job: dict[str, Any], entry: dict[str, Any]) -> None:
        now = self.clock.now()
        changes: dict[str, Any] = {
            "state": "running",
            "owner": self.owner,
            "dueAt": now + self.lease,
            "startedAt": now,
        }
        orphan = entry["state"] == "running"
        if orphan and self.executions.succeeded(job["_id"], entry["scheduledAt"], entry["attempt"]):
            # Its process recorded a success and died before releasing the tick: settled.
            self.ticks.drop_settled_entry(job["_id"], entry)
            return
        at_most_once = job.get("executionType") == "AT_MOST_ONCE"
        if orphan and not at_most_once:
            changes["attempt"] = entry["attempt"] + 1  # re-delivery: same tick, same key
        if not self.ticks.claim_entry(job["_id"], entry, changes):
            metrics.CLAIM_CONFLICTS.inc()
            return
        if not orphan and entry["attempt"] > 1:  # a retry, due when its backoff ended
            metrics.record_start_lag("retry", self.clock.now(), entry["dueAt"])
        if orphan:
            log.warning(
                "job %s: re-claimed tick %s from a stopped process",
                job["_id"],
                entry["scheduledAt"].isoformat(),
            )
            self.executions.close_orphan(job["_id"], entry, now, ORPHAN_MESSAGE)
            if at_most_once:  # never attempted twice
                self.ticks.drop_entry(job["_id"], entry["id"], self.owner)
                return
        self._execute(job, {**entry, **changes})

    def _new_entry(self, scheduled_at: datetime, now: datetime) -> dict[str, Any]:
        return {
            "id": ObjectId(),
            "scheduledAt": scheduled_at,
            "attempt": 1,
            "state": "running",
            "dueAt": now + self.lease,
            "owner": self.owner,
            "manual": False,
            "startedAt": now,
        }

    def _execute(self, job: dict[str, Any], entry: dict[str, Any]) -> None:
        """Make the attempt the claim recorded in ``entry``, then record and settle it."""
        job_id, scheduled_at, attempt = job["_id"], entry["scheduledAt"], entry["attempt"]
        started = self.clock.now()
        if attempt == 1:
            metrics.record_start_lag("tick", started, scheduled_at)
        with (
            self.running.track(entry["id"], job_id, scheduled_at, attempt, started),
            metrics.RUNNING_JOBS.track_inprogress(),
        ):
            try:
                request = self._request(job, entry)
            except DecryptionError as exc:  # never sent: the headers cannot be read
                outcome = AttemptOutcome(False, None, None, False, str(exc), False, 0)
            else:
                outcome = perform(request, self.session_factory())
            self._record(job, entry, started, outcome)

    def _request(self, job: dict[str, Any], entry: dict[str, Any]) -> AttemptRequest:
        headers = outgoing_headers(
            self.cipher.open(job.get("headers") or {}),
            job_id=str(job["_id"]),
            scheduled_at=entry["scheduledAt"],
            attempt=entry["attempt"],
        )
        return AttemptRequest(
            url=job["endpoint"],
            method=job["method"],
            headers=headers,
            body=render_body(job.get("body"), entry["scheduledAt"]),
            timeout_s=self.config.job_timeout_ms / 1000,
            max_response_bytes=self.config.response_body_limit,
            allow_private=self.config.allow_private_targets,
        )

    def _record(
        self,
        job: dict[str, Any],
        entry: dict[str, Any],
        started: datetime,
        outcome: AttemptOutcome,
    ) -> None:
        completed = self.clock.now()
        result = {
            "status": "success" if outcome.success else "failure",
            "completedAt": completed,
            "duration": outcome.duration_ms,
            "responseCode": outcome.status_code,
            "responseBody": outcome.response_body,
            "errorMessage": outcome.error_message,
        }
        record = attempt_record(job["_id"], entry, started, result)
        durable(lambda: self.writes.record(record), self.stopping)
        metrics.record_attempt(result["status"], outcome.duration_ms)
        log.info(
            "job %s tick %s attempt %d: %s in %d ms",
            job["_id"],
            entry["scheduledAt"].isoformat(),
            entry["attempt"],
            result["status"] if outcome.success else redact_urls(outcome.error_message),
            outcome.duration_ms,
        )
        retry = (
            not outcome.success
            and job.get("executionType") != "AT_MOST_ONCE"
            and should_retry(entry["attempt"], job["retryAttempts"], outcome.retryable)
        )
        if retry:
            delay = retry_delay_ms(
                entry["attempt"], job["retryDelay"], self.config.job_retry_delay_max_ms
            )
            changes = {
                "state": "waiting",
                "owner": None,
                "attempt": entry["attempt"] + 1,
                "dueAt": completed + timedelta(milliseconds=delay),
            }
            # A job disabled meanwhile gets no retry (a manual run's retries still happen).
            enabled_only = not entry.get("manual")
            if durable(
                lambda: self.ticks.update_entry(
                    job["_id"], entry["id"], self.owner, changes, enabled_only=enabled_only
                ),
                self.stopping,
            ):
                return
        durable(lambda: self.writes.drop_entry(job["_id"], entry["id"]), self.stopping)
