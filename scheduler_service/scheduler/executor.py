"""Make the attempt of a claimed tick, then settle the tick (``settlement.py``).

The executor runs only what ``claimer.py`` claimed. When the attempt ends, settlement
writes the attempt's execution record with its verdict (group committed,
``batched_writes.py``), then either turns the entry into the waiting retry (``Entry.retry``,
one write of its own), or writes the dead letter (one insert) and releases the tick, or
releases it alone (its entry pulled, group committed). An orphan claimed to be settled
(``Claim.recorded``) is settled from its record without a request. It never raises into the
scheduler: failures are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock, to_millis
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.dead_letter import SentRequest
from scheduler_service.delivery import sends_due
from scheduler_service.delivery.attempt import AttemptRequest, Prepared, perform, prepare
from scheduler_service.delivery.masking import mask_headers, mask_url
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.payload import outgoing_headers, render_body
from scheduler_service.delivery.redaction import redact_urls
from scheduler_service.delivery.session import thread_session as default_session
from scheduler_service.delivery.signing import Signing
from scheduler_service.errors import DecryptionError
from scheduler_service.records import Entry, ExecutionRecord, Job, Status
from scheduler_service.scheduler.alerts import AlertSender
from scheduler_service.scheduler.batched_writes import BatchedWrites, DirectWrites
from scheduler_service.scheduler.chaining import Chaining, entry_key
from scheduler_service.scheduler.claimer import Claim
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.settlement import (
    Settlement,
    decide,
    recorded_decision,
    with_decision,
)
from scheduler_service.stores.chains import ChainStore
from scheduler_service.stores.dead_letters import DeadLetterStore
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
    dead_letters: DeadLetterStore
    chains: ChainStore
    session_factory: Callable[[], Any] = default_session
    cipher: HeaderCipher = field(default_factory=HeaderCipher)
    writes: BatchedWrites | DirectWrites | None = None
    alerts: AlertSender | None = None
    wake: threading.Event | None = None  # the scheduler's: chained runs queued, poll now
    releases: Releases | None = None

    def __post_init__(self) -> None:
        if self.writes is None:
            self.writes = DirectWrites(self.executions, self.ticks, self.owner)
        self.settlement = Settlement(self.ticks, self.dead_letters, self.writes, self.owner,
                                     self.stopping, Chaining(self.chains), self.alerts,
                                     wake=self.wake, releases=self.releases)  # fmt: skip

    def prepare(self, claim: Claim) -> Ready | None:
        """The attempt's request, built ahead of its time (``attempt.prepare``): a tick
        claimed ahead is made ready while its worker waits, so that at the due instant only
        sending is left. None when there is nothing to send or it cannot be built now (then
        ``execute`` builds it and meets the same failure)."""
        if claim.recorded is not None:
            return None
        try:
            request = self._request(claim.job, claim.entry)
        except Exception:  # DecryptionError: recorded when the attempt is made
            return None
        return Ready(request, prepare(request, self.session_factory()))

    def execute(self, claim: Claim, ready: Ready | None = None,
                answered: Callable[[], None] | None = None) -> None:  # fmt: skip
        """Make the attempt ``claim.entry`` stands for (its request ``ready`` if made ahead),
        then record and settle it (``answered`` is called in between, once the request is
        done); or settle an orphan's tick from its record (``claim.recorded``)."""
        with self._guard(claim.job):
            if claim.recorded is not None:
                self._settle_recorded(claim)
            else:
                self._execute(claim.job, claim.entry, ready, answered)

    @contextmanager
    def _guard(self, job: Job) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            metrics.record_database_error("runner")
            log.warning("database error while handling job %s: %s", job.id, exc)
        except Exception:
            log.exception("unexpected error while handling job %s", job.id)

    def _execute(self, job: Job, entry: Entry, ready: Ready | None,
                 answered: Callable[[], None] | None = None) -> None:  # fmt: skip
        assert job.id is not None
        job_id, scheduled_at, attempt = job.id, entry.scheduled_at, entry.attempt
        woke, begun = self.clock.now(), time.monotonic()
        held = (sends_due.expected() and entry.started_at is not None
                and woke < entry.started_at)  # fmt: skip
        started = entry.started_at if held and entry.started_at is not None else woke
        with (
            self.running.track(entry.id, job_id, scheduled_at, attempt, started,
                               leased_at=entry.started_at,
                               lease=entry.due_at - (entry.started_at or started)),
            metrics.RUNNING_JOBS.track_inprogress(),
        ):
            try:
                request = ready.request if ready is not None else self._request(job, entry)
            except DecryptionError as exc:  # never sent: headers or endpoint cannot be read
                outcome = AttemptOutcome(False, None, None, False, str(exc), False, 0)
                shown = self._shown_request(job, entry)
            else:
                session = self.session_factory()
                outcome = (perform(request, session) if ready is None
                           else perform(request, session, ready.first))  # fmt: skip
                shown = sent_request(request)
            if answered is not None:
                answered()
            if held:
                started = _released(entry, woke, begun)
            if attempt == 1:
                metrics.record_start_lag("tick", started, scheduled_at)
            self._record(job, entry, started, outcome, shown)

    def _request(self, job: Job, entry: Entry) -> AttemptRequest:
        limit = self.config.job_timeout_ms
        headers = outgoing_headers(
            self.cipher.open(job.headers),
            job_id=str(job.id),
            scheduled_at=entry.scheduled_at,
            attempt=entry.attempt,
            key=entry_key(job.id, entry) if entry.trigger is not None else None,
        )
        return AttemptRequest(
            url=self.cipher.open_url(job.endpoint),
            method=job.method,
            headers=headers,
            body=_body(job, entry),
            # The job's own deadline, within JOB_TIMEOUT (which may have been lowered since).
            timeout_s=min(job.timeout_ms or limit, limit) / 1000,
            max_response_bytes=self.config.response_body_limit,
            allow_private=self.config.allow_private_targets,
            signing=self._signing(job, entry),
        )

    def _signing(self, job: Job, entry: Entry) -> Signing | None:
        """The job's own secret, else WEBHOOK_SIGNING_KEYS; None: the request is unsigned."""
        own = self.cipher.open_secret(job.signing_secret)
        secrets = (own,) if own is not None else self.config.webhook_signing_keys
        if not secrets:
            return None
        assert job.id is not None
        now = self.clock.now()  # a tick made ready ahead is signed for the time it is sent
        sent = entry.started_at if entry.started_at is not None and entry.started_at > now else now
        return Signing(secrets, entry_key(job.id, entry), sent)

    def _record(self, job: Job, entry: Entry, started: datetime, outcome: AttemptOutcome,
                request: SentRequest) -> None:  # fmt: skip
        assert job.id is not None
        completed = self.clock.now()
        decision = decide(job, entry, success=outcome.success, retryable=outcome.retryable,
                          retry_after_ms=outcome.retry_after_ms,
                          default_cap_ms=self.config.job_retry_delay_max_ms)  # fmt: skip
        record = ExecutionRecord.ended(
            job.id, entry, started, success=outcome.success, completed_at=completed,
            duration=outcome.duration_ms, response_code=outcome.status_code,
            response_body=outcome.response_body, error_message=outcome.error_message,
        )  # fmt: skip
        metrics.record_attempt(record.status.value, outcome.duration_ms)
        log.info(
            "job %s tick %s attempt %d: %s in %d ms%s",
            job.id,
            entry.scheduled_at.isoformat(),
            entry.attempt,
            record.status.value if outcome.success else redact_urls(outcome.error_message),
            outcome.duration_ms,
            f"; next attempt in {decision.delay_ms} ms" if decision.delay_ms is not None else "",
        )
        self.settlement.settle(job, entry, record, decision, request, completed)

    def _settle_recorded(self, claim: Claim) -> None:
        """An orphan whose attempt ended (or was abandoned) before its process could settle
        its tick: settle it from the record, as that process would have."""
        assert claim.recorded is not None
        record = claim.recorded
        decision = recorded_decision(claim.job, claim.entry, record)
        if decision is None:  # the claimer settles only what a record decides
            return
        if not _carries_decision(record):  # decided now (an at-most-once attempt abandoned)
            record = with_decision(record, decision, claim.job, claim.entry)
        self.settlement.apply(claim.job, claim.entry, record, decision,
                              self._shown_request(claim.job, claim.entry), self.clock.now())

    def _shown_request(self, job: Job, entry: Entry) -> SentRequest:
        """The request as it is sent, secret header values masked (for a dead letter)."""
        try:
            request = self._request(job, entry)
        except DecryptionError:
            return SentRequest(job.method, mask_url(self.cipher.open_url_for_display(job.endpoint)),
                               {}, _body(job, entry))  # fmt: skip
        return sent_request(request)


def _released(entry: Entry, woke: datetime, begun: float) -> datetime:
    """When an attempt woken ahead of its tick's time (``dispatcher.EARLY``) started: when
    its request, built meanwhile, was let go at that time (``sends_due.hold``; never
    before it). One that failed before its first write is let go at its time too."""
    assert entry.started_at is not None
    released = sends_due.released()
    if released is None:
        sends_due.hold()
        released = sends_due.released() or time.monotonic()
    return max(entry.started_at, to_millis(woke + timedelta(seconds=released - begun)))


@dataclass(frozen=True)
class Ready:
    """An attempt's request built ahead of its time (``Executor.prepare``)."""

    request: AttemptRequest
    first: Prepared | None  # its first HTTP request, as ``sender`` sends it


def _carries_decision(record: ExecutionRecord) -> bool:
    """Was the record written with its tick's settlement (and so with its triggers)?"""
    return (record.status is Status.SUCCESS or record.next_retry_delay is not None
            or record.dead_lettered)  # fmt: skip


def _body(job: Job, entry: Entry) -> object:
    """The job's body as sent for ``entry``: placeholders rendered (a chained run's parent's
    values too)."""
    parent = entry.trigger.parent_values() if entry.trigger is not None else None
    return render_body(job.body, entry.scheduled_at, parent)


def sent_request(request: AttemptRequest) -> SentRequest:
    """The request as a dead letter keeps it: secret header values and the URL's userinfo
    and query values masked, as in every response (the ``Idempotency-Key`` and the
    ``X-Scheduler-*`` headers are the scheduler's own, not secrets)."""
    masked = mask_headers(request.headers)
    headers = {name: value if _scheduler_header(name) else masked[name]
               for name, value in request.headers.items()}  # fmt: skip
    return SentRequest(request.method, mask_url(request.url), headers, request.body)


def _scheduler_header(name: str) -> bool:
    lowered = name.lower()
    return lowered == "idempotency-key" or lowered.startswith("x-scheduler-")
