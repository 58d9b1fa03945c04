"""Sampled jobs: 1 job in 16 carries ``sample: 1``, 1 in 256 ``sample: 2``,
1 in 4,096 ``sample: 3`` (by a hash of its ``_id``, so a job keeps its mark), and two
partial indexes hold only them, by ``name`` and by ``enabled, nextRunAt``. They tell the
list's walk where it may stop a read (``job_fences``) on SecantusDB, which reads every job
an index range selects.

The partial indexes cost the other jobs nothing: SecantusDB skips the index entries of a
document a partial index does not cover (measured: server CPU per ``nextRunAt`` update of
an unsampled job, 3,000 jobs with ``INDEXES``: 1.8-2.9 ms without them, 2.1-2.8 ms with
them, load 8), as MongoDB does.
"""

from __future__ import annotations

import logging
from hashlib import blake2b
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.collection import Collection

from scheduler_service.stores.by_id import id_batches

log = logging.getLogger(__name__)

FIELD = "sample"
RATIO = 16  # jobs per fence of level 1, fences of level 1 per fence of level 2, ...
LEVELS = 3  # the top level's fences (1 job in 4,096) are read all at once

# By nextRunAt on ``jobs``; by name on ``job_catalog`` (``stores/job_catalog.py``).
BY_NEXT_RUN = IndexModel([(FIELD, ASCENDING), ("enabled", ASCENDING), ("nextRunAt", ASCENDING),
                          ("_id", ASCENDING)], name="sample_1_enabled_1_nextRunAt_1__id_1",
                         partialFilterExpression={FIELD: {"$gt": 0}})  # fmt: skip
BY_NAME = IndexModel([(FIELD, ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)],
                     name="sample_1_name_1__id_1", partialFilterExpression={FIELD: {"$gt": 0}})
INDEXES = [BY_NEXT_RUN, BY_NAME]


def level(job_id: Any) -> int | None:
    """A job's mark: the highest level ``l`` (at most ``LEVELS``) with ``RATIO ** l``
    dividing a hash of its ``_id``, so 1 job in 16 has one, 1 in 256 level 2 or more...;
    None for the others. A hash, not the id's counter: a process that makes ids for other
    things between two jobs (two a job, say) would leave its jobs all on odd counters."""
    if not isinstance(job_id, ObjectId):
        return None
    digest = int.from_bytes(blake2b(job_id.binary, digest_size=8).digest(), "big")
    found = None
    for candidate in range(1, LEVELS + 1):
        if digest % RATIO**candidate:
            break
        found = candidate
    return found


def mark(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (a new job) with an ``_id`` and its mark."""
    document.setdefault("_id", ObjectId())
    sampled = level(document["_id"])
    if sampled is not None:
        document[FIELD] = sampled
    return document


def fix_marks(jobs: Collection, documents: list[dict[str, Any]]) -> int:
    """Mark the jobs read (``_id`` and ``sample``) as ``level`` says (jobs written around
    the API, or by an earlier version, have none); the number of jobs changed."""
    wrong: dict[int | None, list[Any]] = {}
    for document in documents:
        wanted = level(document["_id"])
        if document.get(FIELD) != wanted:
            wrong.setdefault(wanted, []).append(document["_id"])
    for wanted, ids in wrong.items():
        change = {"$unset": {FIELD: ""}} if wanted is None else {"$set": {FIELD: wanted}}
        for batch in id_batches(ids):  # SecantusDB: an $in costs the square of its list
            jobs.update_many({"_id": {"$in": batch}}, change)
    return sum(len(ids) for ids in wrong.values())


def mark_all(jobs: Collection, timeout_s: float) -> int:
    """Mark every job as ``level`` says (a database of an earlier version): a read of each
    job, seconds at 100,000 jobs on SecantusDB, hence its own deadline. Jobs created
    meanwhile are marked as they are created. The number of jobs changed."""
    with pymongo.timeout(timeout_s):
        documents = list(jobs.find({}, projection=[FIELD]))
        changed = fix_marks(jobs, documents)
    log.info("marked the sampled jobs: %d of %d changed", changed, len(documents))
    return changed
