"""The ``jobs`` collection: job definitions, their next tick, and their ticks in flight.

Only the stores (this package) speak MongoDB, and they take and return the typed records
of ``records/``. Ticks in flight (running attempts, waiting retries, manual runs) live
inside the job document, in ``inflight``, so deleting a job cancels them in the same
write and claiming one is a single-document compare-and-set (``ticks.py``: its writes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from scheduler_service.records import Entry, EntryState, Job
from scheduler_service.stores.indexes import ensure_indexes
from scheduler_service.stores.job_catalog import JobCatalog
from scheduler_service.stores.job_counts import JobCounts, JobCountStore, delta, tag_changes
from scheduler_service.stores.job_filter import JobFilter, JobPage
from scheduler_service.stores.job_inserts import GroupedInserts, batch_writer
from scheduler_service.stores.job_pages import Frontier, WalkResult
from scheduler_service.stores.job_priorities import JobPriorities
from scheduler_service.stores.job_samples import BY_NEXT_RUN, mark
from scheduler_service.stores.job_walk import walk_segments
from scheduler_service.stores.ticks import EPOCH

__all__ = ["INDEXES", "JobFilter", "JobPage", "JobStore"]

INDEXES = [
    # The poller's query: equality on enabled, range on nextRunAt; and the list by
    # nextRunAt, whose _id orders the jobs of one nextRunAt (a cron tick many share), so
    # that a page can stop inside them (``job_fences``).
    IndexModel([("enabled", ASCENDING), ("nextRunAt", ASCENDING), ("_id", ASCENDING)],
               name="enabled_1_nextRunAt_1__id_1"),
    # Waiting retries, manual runs and expired leases, by due time (multikey).
    IndexModel([("inflight.dueAt", ASCENDING)], name="inflight_dueAt_1"),
    # The list's indexes are ``job_catalog``'s: here each would cost every claim and release
    # (SecantusDB rewrites every index entry of a document on each update).
    # The jobs that chain to a job (``ChainStore.forget`` when it is deleted): sparse, as
    # the lists are stored only when not empty, so unchained jobs have no key in them.
    IndexModel([("onSuccess", ASCENDING)], name="onSuccess_1", sparse=True),
    IndexModel([("onFailure", ASCENDING)], name="onFailure_1", sparse=True),
    # Stats' skippedTicks: the jobs that skipped a tick, and only those (partial), so the
    # sum reads them and not every job (SecantusDB: 6 s at 100,000 jobs without it).
    IndexModel([("skippedTicks", ASCENDING)], name="skippedTicks_1",
               partialFilterExpression={"skippedTicks": {"$gt": 0}}),
    # The sampled jobs, where a walk by nextRunAt may stop a read (job_samples; partial:
    # 1 job in 16 pays for it).
    BY_NEXT_RUN,
]  # fmt: skip

# Jobs a walk reads for one page when a filter is checked job by job (``q``, a second tag,
# a tag with ``enabled``): about 75 ms on an idle SecantusDB (75 us a job); the page then
# ends early, with a cursor where the reading stopped. Page numbers add the jobs they skip.
SCAN_BUDGET = 1000
SECRET_FIELDS = ("headers", "endpoint", "signingSecret", "alertEndpoint")  # sealed at rest
DELETE_TRIES = 5
UNBOUNDED = 10**12

# The seed's three indexes, which earlier versions made: no query needs them next to
# enabled_1_nextRunAt_1, and each claim (a new nextRunAt) rewrote all three. And
# searchText_1, which q's regex read before pages were read in windows: no query uses it.
# enabled_1_nextRunAt_1: enabled_1_nextRunAt_1__id_1 serves its queries.
# onSuccess_onFailure_wildcard: made by f7f0d36 (reverted, 6f506c1): the sparse two serve.
SUPERSEDED = ["nextRunAt_1_enabled_1", "nextRunAt_1", "enabled_1", "searchText_1",
              "enabled_1_nextRunAt_1", "onSuccess_onFailure_wildcard"]


def _pin(job_id: ObjectId, enabled: Any, tags: list[str]) -> dict[str, Any]:
    """A filter matching the job only while ``enabled`` and ``tags`` are as given (no
    tags: an empty array or none at all, as jobs of earlier versions have)."""
    if tags:
        return {"_id": job_id, "enabled": enabled, "tags": tags}
    return {"_id": job_id, "enabled": enabled, "tags.0": {"$exists": False}}


class JobStore:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database["jobs"]
        self.counts_store = JobCountStore(database)
        self.catalog = JobCatalog(database)
        self.inserts = GroupedInserts(batch_writer(self.collection, self.catalog,
                                                   self.counts_store))  # fmt: skip
        self.priorities = JobPriorities(self.collection, database)

    def ensure_indexes(self) -> None:
        ensure_indexes(self.collection, INDEXES, SUPERSEDED)
        # Jobs of a version before names sort by name as "" (as they read): their catalog
        # entries say so (no update of ``jobs``, which has no index on name to find them).
        counts = self.counts_store.read()
        if counts is None:  # a database of an earlier version
            self.counts_store.recount(self.collection)
        elif not counts.sampled:  # in the background: a worker's start has a deadline
            self.counts_store.mark_samples_later(self.collection)
        self.catalog.ensure(self.collection)
        self.priorities.ensure()  # jobs of a version before priorities: given the default

    def recount(self) -> tuple[JobCounts, dict[str, int]]:
        """Count every job again and repair the catalog (``jobs recount``): after writing
        jobs around the service, or a crash between a job's write and its count's or its
        catalog entry's."""
        return self.counts_store.recount(self.collection), self.catalog.repair(self.collection)

    def add(self, job: Job) -> Job:
        """Insert a new job, its catalog entry and its count (``job_inserts``: together
        with the jobs other requests of this process create meanwhile)."""
        document = mark(job.to_document())
        self.inserts.submit(document)
        return job if job.id == document["_id"] else replace(job, id=document["_id"])

    def get(self, job_id: ObjectId) -> Job | None:
        document = self.collection.find_one({"_id": job_id})
        return None if document is None else Job.from_document(document)

    def page(self, limit: int, selection: JobFilter | None = None, *, now: datetime,
             page: int = 1, after: Frontier | None = None) -> JobPage:  # fmt: skip
        """Page ``page`` (or the page after ``after``) of the jobs ``selection`` selects
        (default: all, newest first), read in windows of the sort key: see ``job_pages``.
        ``after`` must come from a walk of the same selection."""
        selection = selection or JobFilter()
        self.catalog.pending.flush()  # this process's disables first: it reads its writes
        counts = self.counts_store.read()
        segments = selection.segments(now, counts or JobCounts())
        skip = 0 if after is not None else (page - 1) * limit
        exact = all(segment.exact for segment in segments)
        budget = UNBOUNDED if exact else SCAN_BUDGET + skip
        # An upgraded database's catalog not built yet: ``jobs``, on its old list indexes.
        catalog = self.catalog.collection if self.catalog.built() else self.collection
        if selection.reads_disabled and catalog is self.catalog.collection:
            self.catalog.overdue(self.collection, now)  # where it reads them
        result = walk_segments(catalog, self.collection, segments, after or Frontier(),
                               skip + limit, selection.admits, budget)  # fmt: skip
        jobs = [Job.from_document(document) for document in self.catalog.verified(
            self.collection, result.items[skip:], result.sources[skip:], selection.admits)]
        total, exact = self._total(selection, counts, result, from_start=after is None)
        return JobPage(jobs, result.frontier, total, exact, result.complete)

    def _total(self, selection: JobFilter, counts: JobCounts | None, result: WalkResult,
               *, from_start: bool) -> tuple[int, bool]:  # fmt: skip
        """The number of jobs selected: from the counts for no filter, ``enabled`` or one
        tag; exact from the walk when it read them all; else an estimate (the share of the
        jobs read that matched, times the jobs of the walk's index range)."""
        counts = counts or JobCounts()
        if selection.q is None and not selection.tags:
            if selection.enabled is None:
                return counts.total, True
            enabled = counts.enabled if selection.enabled else counts.total - counts.enabled
            return enabled, True
        if selection.q is None and len(selection.tags) == 1 and selection.enabled is None:
            return counts.tagged(selection.tags[0]), True
        if from_start and result.frontier is None:
            return len(result.items), True
        base = counts.tagged(selection.tags[0]) if selection.tags else counts.total
        share = len(result.items) / result.scanned if result.scanned else 0.0
        return max(len(result.items), round(base * share)), False

    def update(
        self, job_id: ObjectId, changes: dict[str, Any], *, cancel_waiting: bool = False,
        seen: Job | None = None,
    ) -> Job | None:
        """Apply ``changes`` (document fields, as a validated update request names them);
        with ``cancel_waiting`` drop ticks in flight not yet started. A change of
        ``enabled`` or ``tags`` holds only while the job is as ``seen`` (None: it changed
        meanwhile; the caller reads it again), so the counts move by what changed."""
        update: dict[str, Any] = {"$set": changes}
        if cancel_waiting:
            update["$pull"] = {"inflight": {"state": EntryState.WAITING.value}}
        query: dict[str, Any] = {"_id": job_id}
        counted = seen is not None and ("enabled" in changes or "tags" in changes)
        if counted:
            query = _pin(job_id, seen.enabled, list(seen.tags))
        document = self.collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        if document is None:
            return None
        self.catalog.changed(set(changes), document)
        job = Job.from_document(document)
        if counted:
            self.counts_store.add(delta(enabled=int(job.enabled) - int(seen.enabled),
                                        tags=tag_changes(list(seen.tags), list(job.tags))))
        return job

    def all_secrets(self) -> Iterator[tuple[ObjectId, dict[str, Any]]]:
        """Every job's stored ``SECRET_FIELDS`` (the parts encrypted at rest; None if absent)."""
        for document in self.collection.find({}, projection=list(SECRET_FIELDS)):
            yield document["_id"], {name: document.get(name) for name in SECRET_FIELDS}

    def replace_secrets(self, job_id: ObjectId, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Write ``new`` (some of ``SECRET_FIELDS``) unless they changed from ``old``."""
        return self.collection.update_one({"_id": job_id, **old},
                                          {"$set": new}).modified_count == 1  # fmt: skip

    def delete(self, job_id: ObjectId) -> bool:
        """Delete the job as last read: a compare-and-delete on what the counts count, read
        again if that changed meanwhile (after a few tries, deleted as read last)."""
        for attempt in range(DELETE_TRIES):
            document = self.collection.find_one(
                {"_id": job_id}, projection=["enabled", "tags", "createdAt"]
            )
            if document is None:
                return False
            enabled, tags = document.get("enabled"), document.get("tags") or []
            last = attempt == DELETE_TRIES - 1
            query = {"_id": job_id} if last else _pin(job_id, enabled, tags)
            if self.collection.delete_one(query).deleted_count == 1:
                self.catalog.remove(job_id)
                self.counts_store.add(delta(total=-1, enabled=-int(bool(enabled)),
                                            tags=dict.fromkeys(tags, -1),
                                            created_at=document.get("createdAt")))  # fmt: skip
                return True
        return False

    def counts(self) -> dict[str, int]:
        """Jobs and enabled jobs, from ``job_counts`` (one read)."""
        counts = self.counts_store.read() or JobCounts()
        return {"total": counts.total, "enabled": counts.enabled}

    def claimers_since(self, since: datetime, job_ids: list[ObjectId]) -> list[str]:
        """The scheduler processes (owners) that claimed a tick at or after ``since``, of the
        jobs among ``job_ids`` (the ones recently run) and of the jobs with ticks in flight:
        read by id and through the in-flight index, not by a scan of every job (no index
        has ``lastRunAt``: each claim would rewrite it; 11 s at 100,000 jobs on SecantusDB)."""
        in_flight = self.collection.find({"inflight.dueAt": {"$gte": EPOCH}}, projection=["_id"])
        ids = list(dict.fromkeys([*job_ids, *(doc["_id"] for doc in in_flight.limit(1000))]))
        found = self.collection.find({"_id": {"$in": ids}, "lastRunAt": {"$gte": since}},
                                     projection=["claimedBy"])  # fmt: skip
        return sorted({str(doc["claimedBy"]) for doc in found if doc.get("claimedBy")})

    def skipped_ticks(self) -> int:
        rows = list(self.collection.aggregate([
            {"$match": {"skippedTicks": {"$gt": 0}}},
            {"$group": {"_id": None, "n": {"$sum": "$skippedTicks"}}},
        ]))  # fmt: skip
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
