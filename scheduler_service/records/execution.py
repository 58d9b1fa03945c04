"""The execution record of one attempt: ``ExecutionRecord``, in ``job_executions``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from scheduler_service.records.entry import Entry
from scheduler_service.records.enums import Status


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
    # A settling attempt of a chained job: the jobs its end triggers (``scheduler/chaining.py``),
    # written with the verdict so that a take-over triggers them too. Empty: none (and no key).
    triggers: tuple[ObjectId, ...] = ()
    # An attempt of a chained run: the parent's tick that triggered it (``triggeredBy``).
    triggered_by: tuple[ObjectId, datetime] | None = None

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
                   error_message, next_retry_delay, dead_lettered,
                   triggered_by=_triggered_by(entry))  # fmt: skip

    @classmethod
    def running(cls, job_id: ObjectId, entry: Entry) -> ExecutionRecord:
        return cls(cls.id_for(job_id, entry), job_id, entry.started_at, Status.RUNNING,
                   entry.attempt, entry.scheduled_at,
                   triggered_by=_triggered_by(entry))  # fmt: skip

    @classmethod
    def abandoned(cls, job_id: ObjectId, entry: Entry, completed_at: datetime,
                  message: str) -> ExecutionRecord:  # fmt: skip
        """The attempt of a process that stopped before recording a result."""
        return cls(cls.id_for(job_id, entry), job_id, entry.started_at, Status.FAILURE,
                   entry.attempt, entry.scheduled_at, completed_at,
                   error_message=message, triggered_by=_triggered_by(entry))  # fmt: skip

    def result(self) -> dict[str, Any]:
        """What an attempt's end sets: its start, status and outcome (and, only when there
        are any, its triggers: a record of an unchained job is as it was)."""
        result = {
            "startedAt": self.started_at, "status": self.status.value,
            "completedAt": self.completed_at, "duration": self.duration,
            "responseCode": self.response_code, "responseBody": self.response_body,
            "errorMessage": self.error_message, "nextRetryDelay": self.next_retry_delay,
            "deadLettered": self.dead_lettered,
        }  # fmt: skip
        if self.triggers:
            result["triggers"] = list(self.triggers)
        if self.triggered_by is not None:
            result["triggeredBy"] = {"jobId": self.triggered_by[0],
                                     "scheduledAt": self.triggered_by[1]}  # fmt: skip
        return result

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
            triggers=tuple(get("triggers") or ()),
            triggered_by=(get("triggeredBy")["jobId"], get("triggeredBy")["scheduledAt"])
            if get("triggeredBy") else None,
        )  # fmt: skip


def _triggered_by(entry: Entry) -> tuple[ObjectId, datetime] | None:
    trigger = entry.trigger
    return None if trigger is None else (trigger.job_id, trigger.scheduled_at)
