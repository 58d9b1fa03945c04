"""The service's records, typed: a job, a tick in flight (its *entry*) and the execution
record of one attempt. Each is turned into its BSON document and back here, and nowhere
else; the stores take and return these types. Defaults of a job's fields live here too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId


class EntryState(StrEnum):
    WAITING = "waiting"  # a retry or a manual run, due at ``due_at``
    RUNNING = "running"  # claimed; its lease ends at ``due_at``


class ExecutionType(StrEnum):
    AT_LEAST_ONCE = "AT_LEAST_ONCE"  # an attempt cut short is re-delivered
    AT_MOST_ONCE = "AT_MOST_ONCE"  # never attempted twice, never retried


class ConcurrencyPolicy(StrEnum):
    FORBID = "FORBID"  # a tick due while the previous one runs is skipped
    ALLOW = "ALLOW"


class MissedRunPolicy(StrEnum):
    COALESCE = "COALESCE"
    RUN_ALL = "RUN_ALL"
    SKIP = "SKIP"


class Status(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    RUNNING = "running"  # an attempt in flight (shown from its entry; never stored now)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# A job's defaults, for the fields a request may leave out (retryAttempts and retryDelay
# come from configuration: JOB_RETRY_ATTEMPTS, JOB_RETRY_DELAY).
DEFAULT_METHOD = "POST"
DEFAULT_EXECUTION_TYPE = ExecutionType.AT_LEAST_ONCE
DEFAULT_CONCURRENCY_POLICY = ConcurrencyPolicy.FORBID
DEFAULT_MISSED_RUN_POLICY = MissedRunPolicy.COALESCE


@dataclass(frozen=True)
class Entry:
    """A tick in flight, an element of its job's ``inflight`` array.

    ``due_at`` is when a waiting entry (a retry or a manual run) falls due, and when a
    running entry's lease expires: so "due" covers both new work and the work of a process
    that died, and one multikey index (``inflight.dueAt``) finds both. Made only by the
    constructors below (and read back by ``from_document``).
    """

    id: ObjectId
    scheduled_at: datetime  # the tick's time: with the attempt number, its identity
    attempt: int
    state: EntryState
    due_at: datetime
    owner: str | None  # the process running it; None while waiting
    is_manual: bool = False
    started_at: datetime | None = None  # when its current attempt was claimed
    replay_of: ObjectId | None = None  # a replay: the dead letter it replays
    replay_base: int = 0  # attempts made before this run: the retry policy counts from here

    @classmethod
    def scheduled(cls, scheduled_at: datetime, *, owner: str, now: datetime,
                  lease: timedelta) -> Entry:  # fmt: skip
        """A scheduled tick, claimed by ``owner`` at ``now``: running from the start."""
        return cls(ObjectId(), scheduled_at, 1, EntryState.RUNNING, now + lease, owner,
                   started_at=now)  # fmt: skip

    @classmethod
    def manual(cls, now: datetime) -> Entry:
        """A run-now tick: waiting, due at once, for any process to claim."""
        return cls(ObjectId(), now, 1, EntryState.WAITING, now, None, is_manual=True)

    @classmethod
    def replay(cls, dead_letter_id: ObjectId, scheduled_at: datetime, attempts: int,
               now: datetime) -> Entry:  # fmt: skip
        """A replay of a dead letter's tick (``attempts`` made so far): waiting, due at once,
        run like a manual run, its attempt numbers continuing after the last one."""
        return cls(ObjectId(), scheduled_at, attempts + 1, EntryState.WAITING, now, None,
                   is_manual=True, replay_of=dead_letter_id, replay_base=attempts)  # fmt: skip

    @classmethod
    def retry(cls, failed: Entry, due_at: datetime) -> Entry:
        """The next attempt of a failed one: waiting until its backoff ends."""
        return replace(failed, state=EntryState.WAITING, owner=None,
                       attempt=failed.attempt + 1, due_at=due_at)  # fmt: skip

    def taken(self, owner: str, now: datetime, lease: timedelta, *, next_attempt: bool) -> Entry:
        """This entry claimed by ``owner`` (a waiting one, or an orphan: ``next_attempt``
        for a re-delivery under the same tick and key)."""
        return replace(self, state=EntryState.RUNNING, owner=owner, due_at=now + lease,
                       started_at=now, attempt=self.attempt + int(next_attempt))  # fmt: skip

    @property
    def is_running(self) -> bool:
        return self.state is EntryState.RUNNING

    def to_document(self) -> dict[str, Any]:
        document = {
            "id": self.id, "scheduledAt": self.scheduled_at, "attempt": self.attempt,
            "state": self.state.value, "dueAt": self.due_at, "owner": self.owner,
            "manual": self.is_manual,
        }  # fmt: skip
        if self.started_at is not None:
            document["startedAt"] = self.started_at
        if self.replay_of is not None:
            document.update(replayOf=self.replay_of, replayBase=self.replay_base)
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Entry:
        return cls(
            id=document["id"], scheduled_at=document["scheduledAt"],
            attempt=int(document["attempt"]), state=EntryState(document["state"]),
            due_at=document["dueAt"], owner=document.get("owner"),
            is_manual=bool(document.get("manual")), started_at=document.get("startedAt"),
            replay_of=document.get("replayOf"), replay_base=int(document.get("replayBase", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class Job:
    """A job document. ``headers`` hold the stored (sealed, when encryption is on) values."""

    id: ObjectId | None
    schedule: str
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

    @classmethod
    def new(cls, fields: dict[str, Any], *, now: datetime, next_run_at: datetime | None,
            headers: dict[str, str]) -> Job:  # fmt: skip
        """A job from a validated create request (``JobCreateSchema``), not yet stored."""
        return replace(cls.from_document(fields), id=None, headers=headers,
                       next_run_at=next_run_at, created_at=now, updated_at=now)  # fmt: skip

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
            "alertEndpoint": self.alert_endpoint,
        })  # fmt: skip
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Job:
        """Fields left out (a projection, or a document of an earlier version) take their
        defaults."""
        get = document.get
        return cls(
            id=get("_id"), schedule=get("schedule", ""), endpoint=get("endpoint", ""),
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
            alert_endpoint=get("alertEndpoint"),
        )  # fmt: skip


@dataclass(frozen=True)
class ExecutionRecord:
    """One attempt of one tick, kept for audit in ``job_executions``. Written once, when
    the attempt ends; while it runs its entry stands for it (``running``)."""

    id: ObjectId
    job_id: ObjectId
    started_at: datetime | None
    status: Status
    attempt: int
    scheduled_at: datetime
    completed_at: datetime | None = None
    duration: int | None = None  # ms
    response_code: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    # How the attempt settled its tick (recorded with it, so that a process taking over the
    # tick of one that died before releasing it settles it the same way): the wait chosen
    # before the next attempt, or the tick dead-lettered. Neither: settled, or no verdict.
    next_retry_delay: int | None = None  # ms
    dead_lettered: bool = False

    @staticmethod
    def id_for(job_id: ObjectId, entry: Entry) -> ObjectId:
        """The id of the record of the attempt ``entry`` stands for.

        Derived, not stored: the API shows a running attempt (from its entry) under the same
        id its record gets when it ends. The entry's ``started_at`` makes the id's time part,
        a hash of job, entry and attempt the rest (an entry claimed for several jobs at
        once is shared).
        """
        started = entry.started_at or entry.due_at  # entries of earlier versions lack it
        digest = hashlib.blake2b(
            job_id.binary + entry.id.binary + int(entry.attempt).to_bytes(4, "big"),
            digest_size=8,
        ).digest()
        return ObjectId(int(started.timestamp()).to_bytes(4, "big") + digest)

    @classmethod
    def ended(cls, job_id: ObjectId, entry: Entry, started_at: datetime, *, success: bool,
              completed_at: datetime, duration: int, response_code: int | None,
              response_body: str | None, error_message: str | None,
              next_retry_delay: int | None = None,
              dead_lettered: bool = False) -> ExecutionRecord:  # fmt: skip
        status = Status.SUCCESS if success else Status.FAILURE
        return cls(cls.id_for(job_id, entry), job_id, started_at, status, entry.attempt,
                   entry.scheduled_at, completed_at, duration, response_code, response_body,
                   error_message, next_retry_delay, dead_lettered)  # fmt: skip

    @classmethod
    def running(cls, job_id: ObjectId, entry: Entry) -> ExecutionRecord:
        return cls(cls.id_for(job_id, entry), job_id, entry.started_at, Status.RUNNING,
                   entry.attempt, entry.scheduled_at)  # fmt: skip

    @classmethod
    def abandoned(cls, job_id: ObjectId, entry: Entry, completed_at: datetime,
                  message: str) -> ExecutionRecord:  # fmt: skip
        """The attempt of a process that stopped before recording a result."""
        return cls(cls.id_for(job_id, entry), job_id, entry.started_at, Status.FAILURE,
                   entry.attempt, entry.scheduled_at, completed_at,
                   error_message=message)  # fmt: skip

    def result(self) -> dict[str, Any]:
        """What an attempt's end sets: its start, status and outcome."""
        return {
            "startedAt": self.started_at, "status": self.status.value,
            "completedAt": self.completed_at, "duration": self.duration,
            "responseCode": self.response_code, "responseBody": self.response_body,
            "errorMessage": self.error_message, "nextRetryDelay": self.next_retry_delay,
            "deadLettered": self.dead_lettered,
        }  # fmt: skip

    def to_document(self) -> dict[str, Any]:
        result = self.result()
        return {
            "_id": self.id, "jobId": self.job_id, "startedAt": result.pop("startedAt"),
            **result, "attempt": self.attempt, "scheduledAt": self.scheduled_at,
        }  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ExecutionRecord:
        get = document.get
        return cls(
            id=document["_id"], job_id=get("jobId"), started_at=get("startedAt"),
            status=Status(get("status")), attempt=get("attempt"),
            scheduled_at=get("scheduledAt"), completed_at=get("completedAt"),
            duration=get("duration"), response_code=get("responseCode"),
            response_body=get("responseBody"), error_message=get("errorMessage"),
            next_retry_delay=get("nextRetryDelay"), dead_lettered=bool(get("deadLettered")),
        )  # fmt: skip
