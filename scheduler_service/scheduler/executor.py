"""Make the attempt of a claimed tick, record it, and settle the tick or schedule its retry.

The executor runs only what ``claimer.py`` claimed. When the attempt ends it writes the
attempt's execution record (group committed, ``batched_writes.py``), then either turns the
entry into the waiting retry (``Entry.retry``, one write of its own) or releases the
settled tick (its entry pulled, group committed). It never raises into the scheduler:
failures are logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.payload import outgoing_headers, render_body
from scheduler_service.delivery.redaction import redact_urls
from scheduler_service.delivery.session import thread_session as default_session
from scheduler_service.errors import DecryptionError
from scheduler_service.records import Entry, ExecutionRecord, Job
from scheduler_service.scheduler.backoff import retry_delay_ms, should_retry
from scheduler_service.scheduler.batched_writes import BatchedWrites, DirectWrites
from scheduler_service.scheduler.claimer import Claim
from scheduler_service.scheduler.durable import durable
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)


@dataclass
class Executor:
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

    def execute(self, claim: Claim) -> None:
        """Make the attempt ``claim.entry`` stands for, then record and settle it."""
        with self._guard(claim.job):
            self._execute(claim.job, claim.entry)

    @contextmanager
    def _guard(self, job: Job) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            metrics.record_database_error("runner")
            log.warning("database error while handling job %s: %s", job.id, exc)
        except Exception:
            log.exception("unexpected error while handling job %s", job.id)

    def _execute(self, job: Job, entry: Entry) -> None:
        assert job.id is not None
        job_id, scheduled_at, attempt = job.id, entry.scheduled_at, entry.attempt
        started = self.clock.now()
        if attempt == 1:
            metrics.record_start_lag("tick", started, scheduled_at)
        with (
            self.running.track(entry.id, job_id, scheduled_at, attempt, started),
            metrics.RUNNING_JOBS.track_inprogress(),
        ):
            try:
                request = self._request(job, entry)
            except DecryptionError as exc:  # never sent: the headers cannot be read
                outcome = AttemptOutcome(False, None, None, False, str(exc), False, 0)
            else:
                outcome = perform(request, self.session_factory())
            self._record(job, entry, started, outcome)

    def _request(self, job: Job, entry: Entry) -> AttemptRequest:
        headers = outgoing_headers(
            self.cipher.open(job.headers),
            job_id=str(job.id),
            scheduled_at=entry.scheduled_at,
            attempt=entry.attempt,
        )
        return AttemptRequest(
            url=job.endpoint,
            method=job.method,
            headers=headers,
            body=render_body(job.body, entry.scheduled_at),
            timeout_s=self.config.job_timeout_ms / 1000,
            max_response_bytes=self.config.response_body_limit,
            allow_private=self.config.allow_private_targets,
        )

    def _record(self, job: Job, entry: Entry, started: datetime, outcome: AttemptOutcome) -> None:
        assert job.id is not None
        job_id = job.id
        completed = self.clock.now()
        record = ExecutionRecord.ended(
            job_id, entry, started, success=outcome.success, completed_at=completed,
            duration=outcome.duration_ms, response_code=outcome.status_code,
            response_body=outcome.response_body, error_message=outcome.error_message,
        )  # fmt: skip
        durable(lambda: self.writes.record(record), self.stopping)
        metrics.record_attempt(record.status.value, outcome.duration_ms)
        log.info(
            "job %s tick %s attempt %d: %s in %d ms",
            job_id,
            entry.scheduled_at.isoformat(),
            entry.attempt,
            record.status.value if outcome.success else redact_urls(outcome.error_message),
            outcome.duration_ms,
        )
        retry = (
            not outcome.success
            and not job.at_most_once
            and should_retry(entry.attempt, job.retry_attempts, outcome.retryable)
        )
        if retry:
            delay = retry_delay_ms(
                entry.attempt, job.retry_delay, self.config.job_retry_delay_max_ms
            )
            waiting = Entry.retry(entry, completed + timedelta(milliseconds=delay))
            # A job disabled meanwhile gets no retry (a manual run's retries still happen).
            if durable(
                lambda: self.ticks.schedule_retry(
                    job_id, self.owner, waiting, enabled_only=not entry.is_manual
                ),
                self.stopping,
            ):
                return
        durable(lambda: self.writes.drop_entry(job_id, entry.id), self.stopping)
