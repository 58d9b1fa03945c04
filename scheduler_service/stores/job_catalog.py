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

The catalog is derived data, written after the job by the job store (create, update,
delete) with ``w: 1`` (lighter than a replica set's default majority: it can be rebuilt),
and by the claim or skip that disables a job with no tick left: those are summed per
process and written as one ``update_many`` within ``FLUSH_AFTER_S`` (``PendingDisables``),
not one more write per execution. Each entry keeps its job's ``updatedAt``, and a write
holds only while the entry is not newer, so a late write never undoes a later change.
A process that dies between the job's write and the catalog's leaves an entry stale or
missing: the list checks every job it shows against ``jobs`` (and repairs an entry found
stale), and ``repair`` (at start-up when no catalog was built yet, an upgrade; ``flask
--app wsgi jobs recount``) compares the whole catalog with ``jobs`` and writes the
difference.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
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
from scheduler_service.stores.indexes import ensure_indexes
from scheduler_service.stores.job_samples import BY_NAME, FIELD, level

log = logging.getLogger(__name__)

COLLECTION = "job_catalog"
FIELDS = ["name", "tags", "createdAt", "enabled", "searchText", "updatedAt"]
# Marks a catalog built (``repair`` done once): kept in ``job_counts`` beside the counts.
STATE_COLLECTION = "job_counts"
STATE_ID = "catalog"
VERSION = 1
REPAIR_TIMEOUT_S = 600.0
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
]  # fmt: skip


def entry(document: dict[str, Any]) -> dict[str, Any]:
    """A job document's catalog entry (a job of an earlier version without tags: [],
    without a name: ""), with its sample mark (``job_samples``) when it has one."""
    made = {"_id": document["_id"], **{name: document.get(name) for name in FIELDS}}
    made["tags"] = list(made["tags"] or [])
    made["enabled"] = bool(made["enabled"])
    made["name"] = made["name"] or ""
    sampled = level(document["_id"])
    if sampled is not None:
        made[FIELD] = sampled
    return made


def differs(present: dict[str, Any], made: dict[str, Any]) -> bool:
    """Whether an entry says of its job other than the job's document does (``made``),
    ``updatedAt`` aside: a change of a field the catalog does not hold moves the job's
    ``updatedAt`` and leaves the entry as it was, rightly."""
    return any(present.get(name) != made[name] for name in FIELDS if name != "updatedAt") or (
        present.get(FIELD) != made.get(FIELD))


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
        ensure_indexes(self.collection, INDEXES)
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
            if self.collection.update_one(
                {"_id": made["_id"], "updatedAt": {"$lte": made["updatedAt"]}},
                {"$set": {name: made[name] for name in FIELDS}},  # _id and mark kept
            ).matched_count:
                return
            self.collection.insert_one(made)
        except DuplicateKeyError:  # an entry newer than this write is there
            return
        except PyMongoError as exc:
            log.warning("job catalog not written for %s (run jobs recount): %s",
                        made["_id"], exc)  # fmt: skip

    def add_many(self, documents: list[dict[str, Any]]) -> None:
        """New jobs' entries (one insert; an entry already there, from a repair, is kept)."""
        if not documents:
            return
        try:
            self.collection.insert_many([entry(document) for document in documents],
                                        ordered=False)  # fmt: skip
        except BulkWriteError as exc:
            details = exc.details
            if details.get("writeConcernErrors") or any(
                    error.get("code") != 11000 for error in details.get("writeErrors", [])):
                log.warning("job catalog not written (run jobs recount): %s", exc)
        except PyMongoError as exc:
            log.warning("job catalog not written (run jobs recount): %s", exc)

    def remove(self, *job_ids: ObjectId) -> None:
        """Jobs deleted (or found missing by a list: orphans)."""
        try:
            self.collection.delete_many({"_id": {"$in": list(job_ids)}})
        except PyMongoError as exc:
            log.warning("job catalog not written (run jobs recount): %s", exc)

    def disabled(self, jobs: Iterable[tuple[ObjectId, datetime | None]]) -> None:
        """Jobs a claim or skip disabled (``PendingDisables``): (id, updatedAt as seen)."""
        self.pending.add(jobs)

    def verified(self, jobs: Collection, items: list[dict[str, Any]],
                 admits: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:  # fmt: skip
        """The jobs of a list's walk (``items``, in order), read whole from ``jobs``, each
        checked there against the filter (``admits``): an entry may lag its job (a claim's
        disable is written within ``FLUSH_AFTER_S``; a process may die between the two
        writes). An entry found stale is written again, one whose job is gone deleted.
        Items read whole from ``jobs`` (by ``nextRunAt``) are taken as they are."""
        found = {item["_id"]: item for item in items if "endpoint" in item}
        found.update((doc["_id"], doc) for doc in find_by_ids(
            jobs, [item["_id"] for item in items if item["_id"] not in found]))
        gone = [item["_id"] for item in items if item["_id"] not in found]
        if gone:
            self.remove(*gone)
        kept = []
        for item in items:
            document = found.get(item["_id"])
            if document is not None and not admits(document):
                self.put(document)
            elif document is not None:
                kept.append(document)
        return kept

    def repair(self, jobs: Collection) -> dict[str, int]:
        """Compare every entry with its job and write the difference (missing entries
        inserted in bulk, stale ones rewritten, orphans deleted), then mark the catalog
        built. A read of every job and entry (seconds at 100,000 on SecantusDB, hence its
        own deadline); safe to run while the service runs, and by several processes."""
        self.pending.flush()
        with pymongo.timeout(REPAIR_TIMEOUT_S):
            wanted = {doc["_id"]: entry(doc) for doc in jobs.find({}, projection=FIELDS)}
            present = {doc["_id"]: doc for doc in self.collection.find({})}
            missing = [made for job_id, made in wanted.items() if job_id not in present]
            for start in range(0, len(missing), INSERT_CHUNK):
                try:
                    self.collection.insert_many(missing[start:start + INSERT_CHUNK],
                                                ordered=False)  # fmt: skip
                except BulkWriteError as exc:  # another process inserted some first
                    if any(error.get("code") != 11000 for error in exc.details["writeErrors"]):
                        raise
            stale = [made for job_id, made in wanted.items()
                     if job_id in present and differs(present[job_id], made)]  # fmt: skip
            for made in stale:
                self.put(made)
            orphans = [job_id for job_id in present if job_id not in wanted]
            for start in range(0, len(orphans), IDS_PER_QUERY):
                self.collection.delete_many(
                    {"_id": {"$in": orphans[start:start + IDS_PER_QUERY]}})
        self.state.replace_one({"_id": STATE_ID},
                               {"version": VERSION, "repairedAt": datetime.now(UTC)},
                               upsert=True)  # fmt: skip
        return {"inserted": len(missing), "rewritten": len(stale), "deleted": len(orphans)}
