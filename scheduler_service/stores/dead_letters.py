"""The ``dead_letters`` collection: one document per tick that failed for good.

A unique index on ``(jobId, scheduledAt)`` (the tick's identity) makes writing a dead
letter idempotent: a settlement repeated after a crash finds the tick's dead letter already
there and changes nothing. State changes (a replay started or ended, an alert claimed or
sent) are compare-and-set writes on the state as seen, so two processes or two API
requests cannot both make one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from scheduler_service.dead_letter import (
    REPLAYABLE,
    Alert,
    AlertState,
    DeadLetter,
    DeadLetterState,
    LastAttempt,
)
from scheduler_service.stores.indexes import ensure_indexes, ensure_ttl_index
from scheduler_service.stores.ticks import EPOCH

INDEXES = [
    # One dead letter per tick.
    IndexModel(
        [("jobId", ASCENDING), ("scheduledAt", ASCENDING)],
        name="jobId_1_scheduledAt_1",
        unique=True,
    ),
    # A job's dead letters, newest first (the list filtered by jobId).
    IndexModel([("jobId", ASCENDING), ("createdAt", DESCENDING)], name="jobId_1_createdAt_-1"),
    # The list filtered by state, and the count of dead ones.
    IndexModel([("state", ASCENDING), ("createdAt", DESCENDING)], name="state_1_createdAt_-1"),
    # Alerts whose sender's lease ran out (its process died while sending).
    IndexModel([("alert.until", ASCENDING)], name="alert_until_1"),
]

# The newest-first list, and the retention (a TTL index when DEAD_LETTER_RETENTION_DAYS > 0).
RETENTION_INDEX = "createdAt_-1"

MAX_BULK = 1000


class DeadLetterStore:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database["dead_letters"]

    def ensure_indexes(self, retention_days: int = 0) -> None:
        ensure_indexes(self.collection, INDEXES)
        ensure_ttl_index(self.collection, RETENTION_INDEX, "createdAt", retention_days)

    # -- written by settlement --------------------------------------------------------------

    def add(self, dead_letter: DeadLetter) -> bool:
        """Write the tick's dead letter; False if the tick has one already (a settlement
        repeated after a crash, or another process's)."""
        try:
            self.collection.insert_one(dead_letter.to_document())
        except DuplicateKeyError:
            return False
        return True

    def end_replay(
        self, job_id: ObjectId, scheduled_at: datetime, last: LastAttempt, success: bool,
        now: datetime,
    ) -> DeadLetter | None:  # fmt: skip
        """A replay of the tick ended for good: ``replayed`` or ``replay_failed``. Holds
        only while the dead letter is ``replaying`` (a repeated settlement changes nothing).
        Returns the dead letter as it now is, or None."""
        state = DeadLetterState.REPLAYED if success else DeadLetterState.REPLAY_FAILED
        document = self.collection.find_one_and_update(
            {"jobId": job_id, "scheduledAt": scheduled_at, "state": DeadLetterState.REPLAYING},
            {"$set": {"state": state.value, "lastAttempt": last.to_document(), "updatedAt": now},
             "$max": {"attempts": last.attempt}},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        return None if document is None else DeadLetter.from_document(document)

    # -- read and changed by the API --------------------------------------------------------

    def get(self, dead_letter_id: ObjectId) -> DeadLetter | None:
        document = self.collection.find_one({"_id": dead_letter_id})
        return None if document is None else DeadLetter.from_document(document)

    def page(
        self, page: int, limit: int, *, job_id: ObjectId | None = None,
        state: DeadLetterState | None = None,
    ) -> tuple[list[DeadLetter], int]:  # fmt: skip
        """One page, newest first, and the total matching."""
        query = _filter(job_id, state)
        cursor = (
            self.collection.find(query)
            .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
            .skip((page - 1) * limit)
            .limit(limit)
        )
        documents = list(cursor)
        total = (self.collection.count_documents(query) if query
                 else self.collection.estimated_document_count())  # fmt: skip
        return [DeadLetter.from_document(document) for document in documents], total

    def delete(self, seen: DeadLetter) -> bool:
        """Delete ``seen`` if it is still as read (same state since the same moment), so a
        replay that starts meanwhile keeps its dead letter."""
        result = self.collection.delete_one(
            {"_id": seen.id, "state": seen.state.value, "updatedAt": seen.updated_at})
        return result.deleted_count == 1

    def any_of_job(self, job_id: ObjectId) -> bool:
        """Whether ``job_id`` has a dead letter (one index read on ``jobId``)."""
        return self.collection.find_one({"jobId": job_id}, projection=[]) is not None

    def start_replays(self, ids: list[ObjectId], now: datetime) -> list[ObjectId]:
        """``dead``/``replay_failed`` -> ``replaying`` for those of ``ids`` still in one of
        those states; returns the ids this call changed (a concurrent request gets the rest)."""
        token = ObjectId()
        result = self.collection.update_many(
            {"_id": {"$in": ids}, "state": {"$in": [state.value for state in REPLAYABLE]}},
            {"$set": {"state": DeadLetterState.REPLAYING.value, "updatedAt": now,
                      "replayToken": token}},
        )  # fmt: skip
        if result.modified_count == len(ids):
            return list(ids)
        won = self.collection.find({"_id": {"$in": ids}, "replayToken": token}, projection=[])
        return [document["_id"] for document in won]

    def take_over_replay(self, seen: DeadLetter, now: datetime) -> bool:
        """Start a replay again on a ``replaying`` dead letter whose replay was lost (its
        queued run was cancelled), if it is still as seen."""
        result = self.collection.update_one(
            {"_id": seen.id, "state": DeadLetterState.REPLAYING.value,
             "updatedAt": seen.updated_at},
            {"$set": {"updatedAt": now}},
        )  # fmt: skip
        return result.modified_count == 1

    def undo_replays(self, ids: list[ObjectId], previous: dict[ObjectId, DeadLetter]) -> None:
        """Put back the state the replays of ``ids`` started from (their job was gone)."""
        for dead_letter_id in ids:
            before = previous[dead_letter_id]
            self.collection.update_one(
                {"_id": dead_letter_id, "state": DeadLetterState.REPLAYING.value},
                {"$set": {"state": before.state.value, "updatedAt": before.updated_at}},
            )

    def replayable(self, *, job_id: ObjectId | None = None,
                   ids: list[ObjectId] | None = None) -> list[DeadLetter]:  # fmt: skip
        """Dead letters that may be replayed now: of a job, or among ``ids`` (at most
        ``MAX_BULK``, oldest first)."""
        query: dict[str, Any] = {"state": {"$in": [state.value for state in REPLAYABLE]}}
        if job_id is not None:
            query["jobId"] = job_id
        if ids is not None:
            query["_id"] = {"$in": ids}
        cursor = self.collection.find(query).sort("createdAt", ASCENDING).limit(MAX_BULK)
        return [DeadLetter.from_document(document) for document in cursor]

    def counts(self) -> dict[str, int]:
        return {
            "total": self.collection.estimated_document_count(),
            "dead": self.collection.count_documents({"state": DeadLetterState.DEAD.value}),
        }

    # -- alerts -----------------------------------------------------------------------------

    def claim_alert(self, dead_letter_id: ObjectId, seen: Alert, owner: str,
                    until: datetime) -> bool:  # fmt: skip
        """Take a pending alert whose sender's lease ran out, if still as seen."""
        result = self.collection.update_one(
            {"_id": dead_letter_id, "alert.state": AlertState.PENDING.value,
             "alert.owner": seen.owner, "alert.until": seen.until},
            {"$set": {"alert.owner": owner, "alert.until": until}},
        )  # fmt: skip
        return result.modified_count == 1

    def renew_alert(self, dead_letter_id: ObjectId, owner: str, until: datetime) -> bool:
        """Extend the lease of a pending alert ``owner`` still holds."""
        result = self.collection.update_one(
            {"_id": dead_letter_id, "alert.state": AlertState.PENDING.value,
             "alert.owner": owner},
            {"$set": {"alert.until": until}},
        )  # fmt: skip
        return result.modified_count == 1

    def finish_alert(self, dead_letter_id: ObjectId, owner: str, state: AlertState,
                     tries: int) -> bool:  # fmt: skip
        """Record the alert as sent or undeliverable, if ``owner`` still holds it."""
        result = self.collection.update_one(
            {"_id": dead_letter_id, "alert.state": AlertState.PENDING.value,
             "alert.owner": owner},
            {"$set": {"alert.state": state.value, "alert.until": None},
             "$inc": {"alert.tries": tries}},
        )  # fmt: skip
        return result.modified_count == 1

    def stale_alerts(self, now: datetime, limit: int) -> list[DeadLetter]:
        """Pending alerts whose sender's lease has run out."""
        cursor = self.collection.find(
            # The lower bound lets SecantusDB use the index (as in ``ticks.py``).
            {"alert.until": {"$gte": EPOCH, "$lte": now},
             "alert.state": AlertState.PENDING.value},
        ).limit(limit)  # fmt: skip
        return [DeadLetter.from_document(document) for document in cursor]


def _filter(job_id: ObjectId | None, state: DeadLetterState | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if job_id is not None:
        query["jobId"] = job_id
    if state is not None:
        query["state"] = state.value
    return query
