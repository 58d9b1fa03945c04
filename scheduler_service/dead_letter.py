"""The dead letter: a tick that failed for good, kept so that an operator can see it, be
told, fix the cause and replay it. One per tick: its identity is the tick's
``(jobId, scheduledAt)``, a unique key in ``dead_letters``.

The record holds what an operator needs without the job: the request as it was last sent
(secret header values already masked: nothing secret is stored here), the last attempt's
outcome and how many attempts were made. ``to_document``/``from_document`` are the one
BSON marshalling.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from scheduler_service.records.trigger import Trigger


class DeadLetterState(StrEnum):
    DEAD = "dead"  # failed for good; may be replayed
    REPLAYING = "replaying"  # a replay is queued or running
    REPLAYED = "replayed"  # a replay succeeded
    REPLAY_FAILED = "replay_failed"  # a replay failed for good; may be replayed again


REPLAYABLE = (DeadLetterState.DEAD, DeadLetterState.REPLAY_FAILED)


class DeadLetterReason(StrEnum):
    """Why the tick failed for good (the Prometheus counter's ``outcome``)."""

    RETRIES_EXHAUSTED = "retries_exhausted"  # its last allowed attempt failed
    NOT_RETRIED = "not_retried"  # a failure that is never retried (4xx, refused target...)
    ABANDONED = "abandoned"  # an AT_MOST_ONCE attempt whose process died


class AlertState(StrEnum):
    NONE = "none"  # no alert endpoint when it was dead-lettered
    PENDING = "pending"  # claimed for sending by ``owner`` until ``until``
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"  # tried and given up: logged and counted


@dataclass(frozen=True)
class LastAttempt:
    status: str
    attempt: int
    response_code: int | None
    error_message: str | None
    response_body: str | None  # as truncated in the history
    started_at: datetime | None
    completed_at: datetime | None

    def to_document(self) -> dict[str, Any]:
        return {
            "status": self.status, "attempt": self.attempt, "responseCode": self.response_code,
            "errorMessage": self.error_message, "responseBody": self.response_body,
            "startedAt": self.started_at, "completedAt": self.completed_at,
        }  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LastAttempt:
        get = document.get
        return cls(get("status", "failure"), int(get("attempt") or 0), get("responseCode"),
                   get("errorMessage"), get("responseBody"), get("startedAt"),
                   get("completedAt"))  # fmt: skip


@dataclass(frozen=True)
class SentRequest:
    """The request as it was sent, headers masked."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any

    def to_document(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": self.headers,
                "body": self.body}  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SentRequest:
        return cls(document.get("method", ""), document.get("url", ""),
                   dict(document.get("headers") or {}), document.get("body"))  # fmt: skip


@dataclass(frozen=True)
class Alert:
    """Delivery of the ``tick.dead_lettered`` alert: claimed with a compare-and-set on
    ``owner``/``until`` so that one process sends it, and a process that died while
    sending is replaced once ``until`` has passed."""

    state: AlertState = AlertState.NONE
    owner: str | None = None
    until: datetime | None = None  # a pending alert's lease
    tries: int = 0

    def to_document(self) -> dict[str, Any]:
        return {"state": self.state.value, "owner": self.owner, "until": self.until,
                "tries": self.tries}  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> Alert:
        document = document or {}
        return cls(AlertState(document.get("state", AlertState.NONE)), document.get("owner"),
                   document.get("until"), int(document.get("tries") or 0))  # fmt: skip


@dataclass(frozen=True)
class DeadLetter:
    id: ObjectId
    job_id: ObjectId
    scheduled_at: datetime
    idempotency_key: str
    attempts: int  # attempts made, replays included
    last_attempt: LastAttempt
    request: SentRequest
    reason: DeadLetterReason
    created_at: datetime
    updated_at: datetime
    state: DeadLetterState = DeadLetterState.DEAD
    name: str | None = None
    alert: Alert = field(default_factory=Alert)
    # A chained run's tick: what triggered it, so that a replay sends the same body and
    # Idempotency-Key and its records say ``triggeredBy`` too. Not shown by the API.
    trigger: Trigger | None = None

    @classmethod
    def new(cls, *, job_id: ObjectId, name: str | None, scheduled_at: datetime,
            idempotency_key: str, last_attempt: LastAttempt, request: SentRequest,
            reason: DeadLetterReason, now: datetime, alert: Alert,
            trigger: Trigger | None = None) -> DeadLetter:  # fmt: skip
        return cls(ObjectId(), job_id, scheduled_at, idempotency_key, last_attempt.attempt,
                   last_attempt, request, reason, now, now, name=name, alert=alert,
                   trigger=trigger)  # fmt: skip

    def replay_ended(self, last_attempt: LastAttempt, success: bool, now: datetime) -> DeadLetter:
        state = DeadLetterState.REPLAYED if success else DeadLetterState.REPLAY_FAILED
        return replace(self, state=state, attempts=max(self.attempts, last_attempt.attempt),
                       last_attempt=last_attempt, updated_at=now)  # fmt: skip

    @property
    def replayable(self) -> bool:
        return self.state in REPLAYABLE

    def to_document(self) -> dict[str, Any]:
        document = {
            "_id": self.id, "jobId": self.job_id, "name": self.name,
            "scheduledAt": self.scheduled_at, "idempotencyKey": self.idempotency_key,
            "attempts": self.attempts, "lastAttempt": self.last_attempt.to_document(),
            "request": self.request.to_document(), "reason": self.reason.value,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
            "state": self.state.value, "alert": self.alert.to_document(),
        }  # fmt: skip
        if self.trigger is not None:
            document["trigger"] = self.trigger.to_document()
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeadLetter:
        get = document.get
        return cls(
            id=document["_id"], job_id=get("jobId"), scheduled_at=get("scheduledAt"),
            idempotency_key=get("idempotencyKey", ""), attempts=int(get("attempts") or 0),
            last_attempt=LastAttempt.from_document(get("lastAttempt") or {}),
            request=SentRequest.from_document(get("request") or {}),
            reason=DeadLetterReason(get("reason", DeadLetterReason.RETRIES_EXHAUSTED)),
            created_at=get("createdAt"), updated_at=get("updatedAt") or get("createdAt"),
            state=DeadLetterState(get("state", DeadLetterState.DEAD)), name=get("name"),
            alert=Alert.from_document(get("alert")),
            trigger=Trigger.from_document(get("trigger")) if get("trigger") else None,
        )  # fmt: skip
