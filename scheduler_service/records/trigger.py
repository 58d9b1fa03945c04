"""A chained run's cause: ``Trigger``, carried by the child's entry (``records/entry.py``).

When a parent's tick ends for good, each job of its ``onSuccess`` (or, dead-lettered,
``onFailure``) list gets one waiting entry carrying the parent's outcome: what the child's
body placeholders (``{{parent.*}}``) are rendered from, what its execution records show as
``triggeredBy``, and the key that makes the trigger idempotent (``scheduler/chaining.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from scheduler_service.clock import iso_utc
from scheduler_service.records.enums import Status


@dataclass(frozen=True)
class Trigger:
    job_id: ObjectId  # the parent
    scheduled_at: datetime  # the parent's tick
    status: Status  # how its last attempt ended: success, or failure (dead-lettered)
    response_code: int | None
    response_body: str | None  # as the parent's execution record keeps it (truncated)
    # The child's run's Idempotency-Key: derived from the child, the list and the parent's
    # tick, so a re-applied trigger is recognised (``chainKeys``) and a re-delivery of the
    # child's run carries the same key.
    key: str
    # How many triggers led here: 1 for a run triggered by a tick of its own (unchained
    # parent), one more per link (``chaining.MAX_DEPTH``).
    depth: int = 1

    def parent_values(self) -> dict[str, Any]:
        """The values of the ``{{parent.*}}`` placeholders (``delivery/payload.py``)."""
        return {
            "jobId": str(self.job_id), "scheduledAt": iso_utc(self.scheduled_at),
            "status": self.status.value, "responseCode": self.response_code,
            "responseBody": self.response_body,
        }  # fmt: skip

    def to_document(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id, "scheduledAt": self.scheduled_at,
            "status": self.status.value, "responseCode": self.response_code,
            "responseBody": self.response_body, "key": self.key, "depth": self.depth,
        }  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Trigger:
        return cls(
            job_id=document["jobId"], scheduled_at=document["scheduledAt"],
            status=Status(document["status"]), response_code=document.get("responseCode"),
            response_body=document.get("responseBody"), key=document["key"],
            depth=int(document.get("depth") or 1),
        )  # fmt: skip
