"""The ``job_catalog`` collection: one small document per job with what ``GET /api/jobs``
finds jobs by (name, tags, createdAt, enabled, searchText), carrying the list's indexes, so
that ``jobs`` carries only the scheduler's.

Why: SecantusDB rewrites every index entry of a document on each update, whatever the
update changed (sparse and partial indexes only for the documents they cover), and every
tick updates its job two or three times (claim, release, skip). Measured
(``bench/index_cost.py``, 500 jobs, alternating claims and releases): 2.1 ms of server CPU
per write with the list's 4 indexes on ``jobs``, 1.3 ms without, 0.65 ms with no index.
MongoDB rewrites only the index keys that changed (none of the list's on a claim), but it
rewrites the whole document on each update, so a job without the list's copy is still less
to write there; there the catalog costs each API change one more small write.

The catalog is derived data, written by the job store with ``w: 1`` (lighter than a
replica set's default majority: it can be rebuilt): before the job on create (``add``:
no job is ever in ``jobs`` without its entry, which no list could repair), after it on
update and delete; and by the claim or skip that disables a job with no tick left: those
are summed per process and written as one ``update_many`` within ``FLUSH_AFTER_S``
(``catalog_disables``), not one more write per execution. Each entry keeps its job's
``updatedAt`` (or an older one), and a write holds only while the entry is not newer, so
a late write never undoes a later change.

An entry may lag its job (a process that dies between the two writes, a catalog write
that fails): the list checks every job it shows against ``jobs`` and its stretch
(``verified``), writes again every entry it reads that lags, deletes entries without a
job once old (``orphans``), and, where it reads disabled jobs from here, first repairs
the entries past the end they announce (``overdue``: a claim's disable lost). ``repair``
(at start-up when no catalog was built yet, an upgrade; ``flask --app wsgi jobs
recount``) compares the whole catalog with ``jobs`` and writes the difference.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, WriteConcern
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from scheduler_service.stores.by_id import IDS_PER_QUERY, find_by_ids
from scheduler_service.stores.catalog_disables import FLUSH_AFTER_S as FLUSH_AFTER_S
from scheduler_service.stores.catalog_disables import pending_for
from scheduler_service.stores.catalog_entries import (
    ENDS,
    FIELDS,
    JOB_FIELDS,
    LISTED,
    differs,
    entry,
    orphans,
    rewrites,
)
from scheduler_service.stores.indexes import ensure_indexes
from scheduler_service.stores.job_pages import Segment
from scheduler_service.stores.job_samples import BY_NAME
from scheduler_service.stores.job_walk import from_catalog

log = logging.getLogger(__name__)

COLLECTION = "job_catalog"
# ``overdue``: entries whose end is this far past are looked at, at most so many per list.
OVERDUE_AFTER_S = 10.0
OVERDUE_PER_LIST = 100
# Marks a catalog built (``repair`` done once): kept in ``job_counts`` beside the counts.
STATE_COLLECTION = "job_counts"
STATE_ID = "catalog"
VERSION = 1
REPAIR_TIMEOUT_S = 600.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# At most this many jobs, a database without a catalog has it built before the process
# serves; more, in a thread (a gunicorn worker must start within 30 s; about 1 ms a job).
SYNC_BUILD_JOBS = 5000
# The list's indexes on ``jobs`` of earlier versions: dropped once the catalog is built.
LIST_INDEXES_ON_JOBS = ["createdAt_-1__id_-1", "tags_1_createdAt_-1__id_-1",
                        "enabled_1_createdAt_-1__id_-1", "name_1__id_1", "sample_1_name_1__id_1"]
INSERT_CHUNK = 1000

INDEXES = [
    # Newest first (the default order), and the same by tag (multikey), by enabled.
    IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_-1__id_-1"),
    IndexModel([("tags", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
               name="tags_1_createdAt_-1__id_-1"),
    IndexModel([("enabled", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
               name="enabled_1_createdAt_-1__id_-1"),
    # By name, and its sampled jobs (``job_samples``: where a walk by name may stop).
    IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name_1__id_1"),
    BY_NAME,
    # The entries the scheduler is to disable, while it has not (``overdue``; partial:
    # only enabled one-offs and jobs with ``endAt`` pay for it). A range, not ``$exists``:
    # SecantusDB uses a partial index only for a query its filter's bounds imply.
    IndexModel([(ENDS, ASCENDING)], name="endsAt_1_pending",
               partialFilterExpression={ENDS: {"$gte": EPOCH}}),
]  # fmt: skip
SUPERSEDED = ["endsAt_1"]  # the same on ``$exists``: SecantusDB read every entry for it


def overdue_query(now: datetime) -> dict[str, Any]:
    """The entries past their end (``JobCatalog.overdue``), on ``endsAt_1_pending``."""
    return {ENDS: {"$gte": EPOCH, "$lt": now - timedelta(seconds=OVERDUE_AFTER_S)}}


class JobCatalog:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database.get_collection(
            COLLECTION, write_concern=WriteConcern(w=1))
        self.state: Collection = database[STATE_COLLECTION]
        self.pending = pending_for(self.collection)
        self._built = False

    def built(self) -> bool:
        """Whether the catalog was built (a read until it is seen so, then remembered)."""
        if not self._built:
            self._built = self.state.find_one({"_id": STATE_ID, "version": VERSION}) is not None
        return self._built

    def ensure(self, jobs: Collection) -> threading.Thread | None:
        """Its indexes; and a first ``repair`` when no catalog was built yet (a database of
        an earlier version): before serving for up to ``SYNC_BUILD_JOBS`` jobs, else in a
        thread (returned), the list reading ``jobs`` meanwhile. Once built, the list's
        indexes go from ``jobs``."""
        ensure_indexes(self.collection, INDEXES, SUPERSEDED)
        if self.built():
            ensure_indexes(jobs, [], LIST_INDEXES_ON_JOBS)
            return None
        if jobs.estimated_document_count() <= SYNC_BUILD_JOBS:
            self._build(jobs)
            return None
        log.info("building the job catalog in the background; the list reads jobs meanwhile")
        thread = threading.Thread(target=self._build, args=(jobs,), name="job-catalog",
                                  daemon=True)  # fmt: skip
        thread.start()
        return thread

    def _build(self, jobs: Collection) -> None:
        try:
            done = self.repair(jobs)
            ensure_indexes(jobs, [], LIST_INDEXES_ON_JOBS)
        except PyMongoError as exc:  # tried again at the next start
            log.warning("job catalog not built (run jobs recount): %s", exc)
            return
        log.info("job catalog built: %d entries added", done["inserted"])

    def put(self, document: dict[str, Any]) -> None:
        """Write a job's entry from its document as just written, unless the entry is newer."""
        made = entry(document)
        try:
            written = {name: made[name] for name in FIELDS}  # _id and mark kept
            update: dict[str, Any] = {"$set": written}
            if ENDS in made:
                written[ENDS] = made[ENDS]
            else:
                update["$unset"] = {ENDS: ""}
            if self.collection.update_one(
                {"_id": made["_id"], "updatedAt": {"$lte": made["updatedAt"]}}, update
            ).matched_count:
                return
            self.collection.insert_one(made)
        except DuplicateKeyError:  # an entry newer than this write is there
            return
        except PyMongoError as exc:
            log.warning("job catalog not written for %s (run jobs recount): %s",
                        made["_id"], exc)  # fmt: skip

    def changed(self, fields: set[str], document: dict[str, Any]) -> None:
        """Write the entry of a job whose ``fields`` an update changed (now ``document``),
        if that changes it (``rewrites``)."""
        if rewrites(fields, document):
            self.put(document)

    def add_many(self, documents: list[dict[str, Any]]) -> set[Any]:
        """New jobs' entries (one insert), written before the jobs (``job_inserts``), so
        that no job is ever in ``jobs`` without its entry, which no list could repair:
        raises when one may not be written (the jobs are then not written). The ids of
        the entries inserted (one already there, from a repair, is kept). An entry whose
        job never comes (its insert failed, its process died) is never listed
        (``verified``) and is deleted once older than ``ORPHAN_GRACE_S`` (``orphans``)."""
        ids = [document["_id"] for document in documents]
        if not documents:
            return set()
        try:
            self.collection.insert_many([entry(document) for document in documents],
                                        ordered=False)  # fmt: skip
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != 11000 for error in errors):
                raise
            if exc.details.get("writeConcernErrors"):  # written, durability unknown
                log.warning("job catalog written, not confirmed: %s", exc)
            there = {error["index"] for error in errors}
            return {job_id for at, job_id in enumerate(ids) if at not in there}
        return set(ids)

    def remove(self, *job_ids: ObjectId) -> None:
        """Jobs deleted (or found missing by a list: orphans)."""
        try:
            self.collection.delete_many({"_id": {"$in": list(job_ids)}})
        except PyMongoError as exc:
            log.warning("job catalog not written (run jobs recount): %s", exc)

    def disabled(self, jobs: Iterable[tuple[ObjectId, datetime | None]]) -> None:
        """Jobs a claim or skip disabled (``PendingDisables``): (id, updatedAt as seen)."""
        self.pending.add(jobs)

    def verified(self, jobs: Collection, items: list[dict[str, Any]], sources: list[Segment],
                 admits: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:  # fmt: skip
        """The jobs of a list's walk (``items``, in order, each read in the segment of
        ``sources``), read whole from ``jobs``, each checked there against the filter
        (``admits``) and its segment's ``enabled``: an entry may lag its job (a claim's
        disable is written within ``FLUSH_AFTER_S``; a process may die between the two
        writes, a catalog write fail), and an entry saying disabled while its job is
        enabled would list it twice by ``nextRunAt`` (the disabled stretch is read from
        the catalog, the enabled one from ``jobs``). Every entry read that says other
        than its job is written again (a list repairs what it reads, listed or not); one
        whose job is gone is deleted (``orphans``). Items read whole from ``jobs`` (by
        ``nextRunAt``) are taken as they are."""
        entries = self.built()  # else the walk read ``jobs``
        found = {item["_id"]: item for item in items if "endpoint" in item}
        found.update((doc["_id"], doc) for doc in find_by_ids(
            jobs, [item["_id"] for item in items if item["_id"] not in found]))
        gone = [item["_id"] for item in items if item["_id"] not in found]
        if gone := orphans(gone, datetime.now(UTC)):
            self.remove(*gone)
        kept = []
        for item, segment in zip(items, sources, strict=True):
            document = found.get(item["_id"])
            if document is None:
                continue
            admitted = admits(document) and segment.enabled in (None, bool(document.get("enabled")))
            made = entry(document)
            if (any(item.get(name) != made[name] for name in LISTED)
                    if entries and from_catalog(segment) else not admitted):  # fmt: skip
                self.put(document)
            if admitted:
                kept.append(document)
        return kept

    def overdue(self, jobs: Collection, now: datetime) -> None:
        """Repair the entries still saying enabled ``OVERDUE_AFTER_S`` past the time their
        job was to be disabled (``endsAt``), whose job is disabled: a claim's disable lost
        with its process (kill -9 within ``FLUSH_AFTER_S`` of the claim). Called by the
        lists that read disabled jobs from the catalog, which would miss such a job (the
        other lists read the entry and repair it in ``verified``). One read of a small
        partial index, usually empty; at most ``OVERDUE_PER_LIST`` entries (a scheduler
        that is behind leaves due jobs enabled: they are read again, and wait)."""
        late = {doc["_id"]: doc.get(ENDS) for doc in self.collection.find(
            overdue_query(now), projection=[ENDS]).limit(OVERDUE_PER_LIST)}  # fmt: skip
        if not late:
            return
        found = {document["_id"]: document for document in find_by_ids(jobs, list(late))}
        for job_id, document in found.items():
            if entry(document).get(ENDS) != late[job_id]:  # disabled (or its end moved)
                self.put(document)
        if gone := orphans([job_id for job_id in late if job_id not in found], now):
            self.remove(*gone)

    def repair(self, jobs: Collection) -> dict[str, int]:
        """Compare every entry with its job and write the difference (missing entries
        inserted in bulk, stale ones rewritten, orphans deleted), then mark the catalog
        built. A read of every job and entry (seconds at 100,000 on SecantusDB, hence its
        own deadline); safe to run while the service runs, and by several processes."""
        self.pending.flush()
        with pymongo.timeout(REPAIR_TIMEOUT_S):
            documents = {doc["_id"]: doc for doc in jobs.find({}, projection=JOB_FIELDS)}
            wanted = {job_id: entry(doc) for job_id, doc in documents.items()}
            present = {doc["_id"]: doc for doc in self.collection.find({})}
            missing = [made for job_id, made in wanted.items() if job_id not in present]
            for start in range(0, len(missing), INSERT_CHUNK):
                try:
                    self.collection.insert_many(missing[start:start + INSERT_CHUNK],
                                                ordered=False)  # fmt: skip
                except BulkWriteError as exc:  # another process inserted some first
                    if any(error.get("code") != 11000 for error in exc.details["writeErrors"]):
                        raise
            stale = [job_id for job_id, made in wanted.items()
                     if job_id in present and differs(present[job_id], made)]  # fmt: skip
            for job_id in stale:
                self.put(documents[job_id])
            gone = orphans([job_id for job_id in present if job_id not in wanted],
                           datetime.now(UTC))  # fmt: skip
            for start in range(0, len(gone), IDS_PER_QUERY):
                self.collection.delete_many({"_id": {"$in": gone[start:start + IDS_PER_QUERY]}})
        self.state.replace_one({"_id": STATE_ID},
                               {"version": VERSION, "repairedAt": datetime.now(UTC)},
                               upsert=True)  # fmt: skip
        return {"inserted": len(missing), "rewritten": len(stale), "deleted": len(gone)}
