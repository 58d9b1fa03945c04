"""The ``jobs`` collection: job definitions, their next tick, and their ticks in flight.

Only the stores (this package) speak MongoDB, and they take and return the typed records
of ``records/``. Ticks in flight
(running attempts, waiting retries, manual runs) live inside the job document, in
``inflight``, so deleting a job cancels them in the same write and claiming one is a
single-document compare-and-set. See ``ticks.py`` for the claim protocol's writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from scheduler_service.records import Entry, EntryState, Job
from scheduler_service.stores.indexes import ensure_indexes
from scheduler_service.stores.ticks import EPOCH

INDEXES = [
    # The poller's query: equality on enabled, range on nextRunAt.
    IndexModel([("enabled", ASCENDING), ("nextRunAt", ASCENDING)], name="enabled_1_nextRunAt_1"),
    # Waiting retries, manual runs and expired leases, by due time (multikey).
    IndexModel([("inflight.dueAt", ASCENDING)], name="inflight_dueAt_1"),
    # Listing newest first.
    IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_-1__id_-1"),
    # The list's filters (``JobFilter``), each with an index: jobs with a tag (multikey),
    # enabled or not, newest first; sorted by name; and a substring of name or endpoint,
    # matched in the index's keys rather than in the documents.
    IndexModel([("tags", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
               name="tags_1_createdAt_-1__id_-1"),
    IndexModel([("enabled", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
               name="enabled_1_createdAt_-1__id_-1"),
    IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name_1__id_1"),
    IndexModel([("searchText", ASCENDING)], name="searchText_1"),
    # The jobs that chain to a job (``ChainStore.forget`` when it is deleted): sparse, as
    # the lists are stored only when not empty, so unchained jobs have no key in them.
    IndexModel([("onSuccess", ASCENDING)], name="onSuccess_1", sparse=True),
    IndexModel([("onFailure", ASCENDING)], name="onFailure_1", sparse=True),
]  # fmt: skip

_SORT_KEYS = {"createdAt": "createdAt", "nextRunAt": "nextRunAt", "name": "name"}


@dataclass(frozen=True)
class JobFilter:
    """What ``GET /api/jobs`` selects: every tag given, ``enabled``, a substring of name or
    endpoint (``q``), and the order (``sort``: a field, ``-`` for descending)."""

    tags: tuple[str, ...] = ()
    enabled: bool | None = None
    q: str | None = None
    sort: str = "-createdAt"

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.tags:
            query["tags"] = {"$all": list(self.tags)} if len(self.tags) > 1 else self.tags[0]
        if self.enabled is not None:
            query["enabled"] = self.enabled
        elif self.sort.lstrip("-") == "nextRunAt":
            # Both values: MongoDB then merges the two ranges of enabled_1_nextRunAt_1
            # in order instead of sorting every job in memory.
            query["enabled"] = {"$in": [True, False]}
        if self.q:
            query["searchText"] = {"$regex": re.escape(self.q.lower())}
        return query

    def order(self) -> list[tuple[str, int]]:
        direction = DESCENDING if self.sort.startswith("-") else ASCENDING
        return [(_SORT_KEYS[self.sort.lstrip("-")], direction), ("_id", direction)]

    @property
    def selects_all(self) -> bool:
        return not (self.tags or self.enabled is not None or self.q)

# The seed's three indexes, which earlier versions made: no query needs them next to
# enabled_1_nextRunAt_1, and each claim (a new nextRunAt) rewrote all three.
SUPERSEDED = ["nextRunAt_1_enabled_1", "nextRunAt_1", "enabled_1"]


class JobStore:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database["jobs"]

    def ensure_indexes(self) -> None:
        ensure_indexes(self.collection, INDEXES, SUPERSEDED)

    def add(self, job: Job) -> Job:
        result = self.collection.insert_one(job.to_document())
        return replace(job, id=result.inserted_id)

    def get(self, job_id: ObjectId) -> Job | None:
        document = self.collection.find_one({"_id": job_id})
        return None if document is None else Job.from_document(document)

    def page(self, page: int, limit: int,
             selection: JobFilter | None = None) -> tuple[list[Job], int]:  # fmt: skip
        """One page of the jobs ``selection`` selects (default: all, newest first), and
        their total count."""
        selection = selection or JobFilter()
        query = selection.query()
        cursor = (
            self.collection.find(query)
            .sort(selection.order())
            .skip((page - 1) * limit)
            .limit(limit)
        )
        jobs = [Job.from_document(document) for document in cursor]
        if selection.selects_all:
            # The metadata count: exact for an unfiltered collection, and O(1) where
            # count_documents scans every job.
            return jobs, self.collection.estimated_document_count()
        return jobs, self.collection.count_documents(query)

    def update(
        self, job_id: ObjectId, changes: dict[str, Any], *, cancel_waiting: bool = False
    ) -> Job | None:
        """Apply ``changes`` (document fields, as a validated update request names them);
        with ``cancel_waiting`` drop ticks in flight not yet started."""
        update: dict[str, Any] = {"$set": changes}
        if cancel_waiting:
            update["$pull"] = {"inflight": {"state": EntryState.WAITING.value}}
        document = self.collection.find_one_and_update(
            {"_id": job_id}, update, return_document=ReturnDocument.AFTER
        )
        return None if document is None else Job.from_document(document)

    def all_secrets(self) -> Iterator[tuple[ObjectId, dict[str, str], str, str | None]]:
        """Every job's stored header values, endpoint and signing secret (the parts
        encrypted at rest)."""
        fields = ["headers", "endpoint", "signingSecret"]
        for document in self.collection.find({}, projection=fields):
            yield (document["_id"], document.get("headers") or {},
                   document.get("endpoint", ""), document.get("signingSecret"))

    def replace_secrets(self, job_id: ObjectId, old: tuple[dict[str, str], str, str | None],
                        new: tuple[dict[str, str], str, str | None]) -> bool:  # fmt: skip
        """Swap stored header values, endpoint and signing secret unless they changed
        meanwhile."""
        result = self.collection.update_one(
            {"_id": job_id, "headers": old[0], "endpoint": old[1], "signingSecret": old[2]},
            {"$set": {"headers": new[0], "endpoint": new[1], "signingSecret": new[2]}},
        )
        return result.modified_count == 1

    def delete(self, job_id: ObjectId) -> bool:
        return self.collection.delete_one({"_id": job_id}).deleted_count == 1

    def counts(self) -> dict[str, int]:
        return {
            "total": self.collection.estimated_document_count(),
            "enabled": self.collection.count_documents({"enabled": True}),
        }

    def claimers_since(self, since: datetime) -> list[str]:
        """The scheduler processes (owners) that claimed a job's tick at or after ``since``."""
        owners = self.collection.distinct("claimedBy", {"lastRunAt": {"$gte": since}})
        return sorted(str(owner) for owner in owners if owner)

    def skipped_ticks(self) -> int:
        rows = list(
            self.collection.aggregate(
                [
                    {"$match": {"skippedTicks": {"$gt": 0}}},
                    {"$group": {"_id": None, "n": {"$sum": "$skippedTicks"}}},
                ]
            )
        )
        return int(rows[0]["n"]) if rows else 0

    def running_attempts(self) -> int:
        """Attempts in flight now: ``running`` entries, over all jobs."""
        rows = list(
            self.collection.aggregate(
                [
                    # The range lets the inflight.dueAt index pick the jobs with entries.
                    {"$match": {"inflight.dueAt": {"$gte": EPOCH}}},
                    {"$unwind": "$inflight"},
                    {"$match": {"inflight.state": EntryState.RUNNING.value}},
                    {"$count": "n"},
                ]
            )
        )
        return int(rows[0]["n"]) if rows else 0

    def add_manual_tick(self, job_id: ObjectId, entry: Entry, limit: int) -> bool | None:
        """Queue a run-now tick (``Entry.manual``) unless the job already has ``limit``
        manual ticks in flight (waiting, running or waiting to retry; dead-letter replays and
        chained runs, manual too, are not counted): true if queued, false if the job has that
        many, None if it does not exist. One conditional write, so concurrent requests cannot
        pass the limit together."""
        manual_in_flight = {"$size": {"$filter": {
            "input": {"$ifNull": ["$inflight", []]}, "as": "entry",
            "cond": {"$and": [
                {"$eq": ["$$entry.manual", True]},
                {"$eq": [{"$ifNull": ["$$entry.replayOf", None]}, None]},
                {"$eq": [{"$ifNull": ["$$entry.trigger", None]}, None]},
            ]},
        }}}  # fmt: skip
        result = self.collection.update_one(
            {"_id": job_id, "$expr": {"$lt": [manual_in_flight, limit]}},
            {"$push": {"inflight": entry.to_document()}},
        )
        if result.matched_count == 1:
            return True
        return False if self.collection.count_documents({"_id": job_id}, limit=1) else None

    def in_flight(self, job_ids: list[ObjectId]) -> dict[ObjectId, tuple[Entry, ...]]:
        """The ticks in flight of the jobs among ``job_ids`` that exist, by job id."""
        found = self.collection.find({"_id": {"$in": job_ids}}, projection=["inflight"])
        return {document["_id"]: Job.from_document(document).inflight for document in found}

    def add_waiting_entries(self, job_id: ObjectId, entries: list[Entry]) -> bool:
        """Queue ticks for any process to claim (``Entry.replay``); false if the job does not
        exist."""
        documents = [entry.to_document() for entry in entries]
        result = self.collection.update_one(
            {"_id": job_id}, {"$push": {"inflight": {"$each": documents}}}
        )
        return result.matched_count == 1
