"""The ``job_executions`` collection: one document per attempt, kept for audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

INDEXES = [
    # The seed's three indexes.
    IndexModel([("jobId", ASCENDING), ("startedAt", DESCENDING)], name="jobId_1_startedAt_-1"),
    IndexModel([("status", ASCENDING)], name="status_1"),
    IndexModel([("startedAt", DESCENDING)], name="startedAt_-1"),
    # One tick has one identity: a second claimer's insert of the same attempt fails here.
    IndexModel(
        [("jobId", ASCENDING), ("scheduledAt", ASCENDING), ("attempt", ASCENDING)],
        name="jobId_1_scheduledAt_1_attempt_1",
        unique=True,
    ),
    # Recent failures.
    IndexModel([("status", ASCENDING), ("startedAt", DESCENDING)], name="status_1_startedAt_-1"),
]


class DuplicateAttempt(Exception):
    """Another process already recorded this attempt of this tick."""


class ExecutionStore:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database["job_executions"]

    def ensure_indexes(self) -> None:
        self.collection.create_indexes(INDEXES)

    def start(
        self, job_id: ObjectId, scheduled_at: datetime, attempt: int, started_at: datetime
    ) -> ObjectId:
        """Record an attempt as ``running`` before its request is sent."""
        document = {
            "jobId": job_id,
            "status": "running",
            "startedAt": started_at,
            "completedAt": None,
            "duration": None,
            "responseCode": None,
            "responseBody": None,
            "errorMessage": None,
            "attempt": attempt,
            "scheduledAt": scheduled_at,
        }
        try:
            return self.collection.insert_one(document).inserted_id
        except DuplicateKeyError:
            raise DuplicateAttempt(f"{job_id}/{scheduled_at.isoformat()}/{attempt}") from None

    def finish(self, execution_id: ObjectId, result: dict[str, Any]) -> None:
        """Close an attempt with its status, completedAt, duration, response and error."""
        self.collection.update_one({"_id": execution_id}, {"$set": result})

    def close_orphan(
        self, job_id: ObjectId, scheduled_at: datetime, attempt: int, completed_at: datetime,
        message: str,
    ) -> None:
        """Close the ``running`` record of an attempt whose process died."""
        self.collection.update_one(
            {"jobId": job_id, "scheduledAt": scheduled_at, "attempt": attempt, "status": "running"},
            {"$set": {"status": "failure", "completedAt": completed_at, "errorMessage": message}},
        )

    def for_job(self, job_id: ObjectId, limit: int) -> list[dict[str, Any]]:
        cursor = (
            self.collection.find({"jobId": job_id})
            .sort([("startedAt", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return list(cursor)

    def failures(self, limit: int) -> list[dict[str, Any]]:
        cursor = (
            self.collection.find({"status": "failure"})
            .sort([("startedAt", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return list(cursor)

    def counts(self, now: datetime) -> dict[str, int]:
        """Totals by status and the number started in the last 24 hours."""
        count = self.collection.count_documents
        return {
            "total": count({}),
            "successful": count({"status": "success"}),
            "failed": count({"status": "failure"}),
            "running": count({"status": "running"}),
            "last24Hours": count({"startedAt": {"$gte": now - timedelta(hours=24)}}),
        }
