"""A job document: ``Job``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from scheduler_service.crypto import PREFIX as SEALED
from scheduler_service.delivery.masking import mask_url
from scheduler_service.records.entry import Entry
from scheduler_service.records.enums import (
    DEFAULT_CONCURRENCY_POLICY,
    DEFAULT_EXECUTION_TYPE,
    DEFAULT_METHOD,
    DEFAULT_MISSED_RUN_POLICY,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEZONE,
    ConcurrencyPolicy,
    ExecutionType,
    MissedRunPolicy,
)


@dataclass(frozen=True)
class Job:
    """A job document. ``headers`` hold the stored (sealed, when encryption is on) values."""

    id: ObjectId | None
    schedule: str | None  # a cron expression, or None for a one-off (``run_at``)
    endpoint: str
    method: str = DEFAULT_METHOD
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    execution_type: ExecutionType = DEFAULT_EXECUTION_TYPE
    enabled: bool = True
    retry_attempts: int = 0
    retry_delay: int = 0  # ms
    concurrency_policy: ConcurrencyPolicy = DEFAULT_CONCURRENCY_POLICY
    missed_run_policy: MissedRunPolicy = DEFAULT_MISSED_RUN_POLICY
    next_run_at: datetime | None = None  # its next scheduled tick; None while disabled
    last_run_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    inflight: tuple[Entry, ...] = ()
    claimed_by: str | None = None  # the process that claimed its last scheduled tick
    skipped_ticks: int = 0
    # None (jobs of earlier versions): JOB_RETRY_DELAY_MAX, JOB_TIMEOUT, no alert endpoint.
    retry_delay_max: int | None = None  # ms: no retry waits longer
    timeout_ms: int | None = None  # one attempt's total deadline, within JOB_TIMEOUT
    alert_endpoint: str | None = None  # told of each of its dead letters
    timezone: str = DEFAULT_TIMEZONE  # the IANA zone the schedule is read in
    run_at: datetime | None = None  # a one-off's only tick
    jitter_ms: int = 0  # each tick starts up to this much after its time (``scheduling.py``)
    start_at: datetime | None = None  # no tick before
    end_at: datetime | None = None  # no tick after
    name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    # The tick ``next_run_at`` starts: they differ by the tick's jitter. None: the same.
    next_tick_at: datetime | None = None
    # What ``?q=`` searches (``search_text``), made by the service from the endpoint in
    # clear; None: made from ``endpoint`` here (a sealed one is left out).
    search: str | None = None
    signing_secret: str | None = None  # its own whsec_ secret (sealed like header values)
    priority: int = DEFAULT_PRIORITY  # 1-10: higher first when more is due than workers
    # Chained jobs: those run once when a tick of this one succeeds for good, or is
    # dead-lettered (``scheduler/chaining.py``). Stored only when not empty.
    on_success: tuple[ObjectId, ...] = ()
    on_failure: tuple[ObjectId, ...] = ()

    @classmethod
    def new(cls, fields: dict[str, Any], *, now: datetime, next_run_at: datetime | None,
            headers: dict[str, str], id: ObjectId | None = None,
            search: str | None = None) -> Job:  # fmt: skip
        """A job from a validated create request (``JobCreateSchema``), not yet stored
        (``id``: the one it is to be stored with)."""
        return replace(cls.from_document(fields), id=id, headers=headers, search=search,
                       next_run_at=next_run_at, created_at=now, updated_at=now)  # fmt: skip

    @property
    def next_tick(self) -> datetime | None:
        """The scheduled time of the next tick (``next_run_at`` less its jitter). A
        ``next_tick_at`` that does not fit ``next_run_at`` (a ``nextRunAt`` set by hand) is
        ignored: the tick is then ``next_run_at`` itself."""
        tick, start = self.next_tick_at, self.next_run_at
        if tick is None or start is None:
            return start
        if not timedelta(0) <= start - tick <= timedelta(milliseconds=self.jitter_ms):
            return start
        return tick

    @property
    def is_one_off(self) -> bool:
        return self.schedule is None

    @property
    def has_last_tick(self) -> bool:
        """A one-off, or a job with ``end_at``: its last tick disables it."""
        return self.schedule is None or self.end_at is not None

    @property
    def forbids_overlap(self) -> bool:
        return self.concurrency_policy is ConcurrencyPolicy.FORBID

    @property
    def at_most_once(self) -> bool:
        return self.execution_type is ExecutionType.AT_MOST_ONCE

    def to_document(self) -> dict[str, Any]:
        document = {} if self.id is None else {"_id": self.id}
        document.update({
            "schedule": self.schedule, "endpoint": self.endpoint, "method": self.method,
            "headers": self.headers, "body": self.body,
            "executionType": self.execution_type.value, "enabled": self.enabled,
            "retryAttempts": self.retry_attempts, "retryDelay": self.retry_delay,
            "concurrencyPolicy": self.concurrency_policy.value,
            "missedRunPolicy": self.missed_run_policy.value,
            "nextRunAt": self.next_run_at, "lastRunAt": self.last_run_at,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
            "inflight": [entry.to_document() for entry in self.inflight],
            "claimedBy": self.claimed_by, "skippedTicks": self.skipped_ticks,
            "retryDelayMax": self.retry_delay_max, "timeoutMs": self.timeout_ms,
            "alertEndpoint": self.alert_endpoint, "signingSecret": self.signing_secret,
            "timezone": self.timezone, "runAt": self.run_at, "jitterMs": self.jitter_ms,
            "startAt": self.start_at, "endAt": self.end_at, "name": self.name,
            "description": self.description, "tags": list(self.tags),
            "searchText": self.search if self.search is not None
            else search_text(self.name, "" if self.endpoint.startswith(SEALED) else self.endpoint),
            "nextTickAt": self.next_tick_at, "priority": self.priority,
        })  # fmt: skip
        if self.on_success:
            document["onSuccess"] = list(self.on_success)
        if self.on_failure:
            document["onFailure"] = list(self.on_failure)
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Job:
        """Fields left out (a projection, or a document of an earlier version) take their
        defaults."""
        get = document.get
        return cls(
            id=get("_id"), schedule=get("schedule"), endpoint=get("endpoint", ""),
            method=get("method", DEFAULT_METHOD), headers=get("headers") or {},
            body=get("body"),
            execution_type=ExecutionType(get("executionType", DEFAULT_EXECUTION_TYPE)),
            enabled=bool(get("enabled", True)),
            retry_attempts=get("retryAttempts", 0), retry_delay=get("retryDelay", 0),
            concurrency_policy=ConcurrencyPolicy(
                get("concurrencyPolicy", DEFAULT_CONCURRENCY_POLICY)),
            missed_run_policy=MissedRunPolicy(get("missedRunPolicy", DEFAULT_MISSED_RUN_POLICY)),
            next_run_at=get("nextRunAt"), last_run_at=get("lastRunAt"),
            created_at=get("createdAt"), updated_at=get("updatedAt"),
            inflight=tuple(Entry.from_document(entry) for entry in get("inflight") or ()),
            claimed_by=get("claimedBy"), skipped_ticks=get("skippedTicks", 0),
            retry_delay_max=get("retryDelayMax"), timeout_ms=get("timeoutMs"),
            alert_endpoint=get("alertEndpoint"), signing_secret=get("signingSecret"),
            timezone=get("timezone") or DEFAULT_TIMEZONE, run_at=get("runAt"),
            jitter_ms=get("jitterMs") or 0, start_at=get("startAt"), end_at=get("endAt"),
            name=get("name") or "", description=get("description") or "",
            tags=tuple(get("tags") or ()), next_tick_at=get("nextTickAt"),
            priority=get("priority") or DEFAULT_PRIORITY,
            on_success=tuple(get("onSuccess") or ()), on_failure=tuple(get("onFailure") or ()),
        )  # fmt: skip


def search_text(name: str, endpoint: str) -> str:
    """What ``GET /api/jobs?q=`` searches: the name and the endpoint as responses show it
    (``mask_url``: no userinfo, query values or fragment, so no secret), lower-cased, in
    one indexed field (``stores/jobs.py``)."""
    return f"{name}\n{mask_url(endpoint) if endpoint else ''}".lower()
