"""Chained jobs in the ``jobs`` collection: the triggers' writes on the children, the graph
that validation walks, and the removal of a deleted job from every list.

A trigger is one conditional write on the child's document: push the waiting run
(``Entry.triggered``) and remember its key in ``chainKeys`` (the last ``KEPT_KEYS``), only
if that key is not there yet. Applying a trigger again (a take-over re-settling the parent's
tick) is then a no-op, even after the child's run has ended and its entry is gone, as long
as fewer than ``KEPT_KEYS`` other triggers reached that child in between.

A child holds at most ``max_waiting`` entries (its runs waiting, running or retrying, of any
kind) before a trigger: past that, the trigger is skipped, counted in the child's
``skippedTicks`` and its key kept, so that a parent firing faster than its child runs
cannot grow the child's document until a trigger no longer fits in 16 MiB (its parent's
tick would then never settle).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database

from scheduler_service import metrics
from scheduler_service.records import Entry
from scheduler_service.stores.by_id import find_by_ids

# Per child: keys of its last triggers, to recognise one applied again. A re-application
# comes from a take-over of the parent's tick (a process died after triggering, before
# releasing the tick), within about a lease; no trigger reaches anyone while no process runs.
KEPT_KEYS = 100
TIME_TRIES = 10  # writes tried, should the tick a run takes be taken meanwhile
MAX_WAITING = 100  # entries a child may hold when a trigger comes (at most; see waiting_cap)
DOCUMENT_SHARE = 8 << 20  # bytes of a child's 16 MiB that its waiting runs may fill

log = logging.getLogger(__name__)

Links = tuple[tuple[ObjectId, ...], tuple[ObjectId, ...]]  # (onSuccess, onFailure)


def waiting_cap(response_body_limit: int) -> int:
    """Entries a child may hold when a trigger comes: ``MAX_WAITING``, fewer when each could
    carry a long parent response (kept as text: up to three bytes of BSON per byte kept),
    at least 1."""
    per_entry = 3 * response_body_limit + 2048
    return max(1, min(MAX_WAITING, DOCUMENT_SHARE // per_entry))


class ChainStore:
    def __init__(self, database: Database, max_waiting: int = MAX_WAITING) -> None:
        self.collection: Collection = database["jobs"]
        self.max_waiting = max_waiting

    def trigger(self, runs: list[tuple[ObjectId, Entry]]) -> int:
        """Queue each child's triggered run (its entry carries the key), once per key;
        returns how many were queued now (not before, and the child not deleted). One
        write per child (at most 10; ``bulk_write`` would make it one round trip, but
        mongomock's does not work with this pymongo)."""
        return sum(self._trigger_one(child_id, entry) for child_id, entry in runs)

    def _trigger_one(self, child_id: ObjectId, entry: Entry) -> int:
        """A run's tick is ``(child, scheduledAt)``, like any tick (the execution records'
        unique key): two runs triggered in the same millisecond (two parents), or a run at
        the very time of one of the child's own ticks, would share it. So the write also
        requires that time to be free (no entry in flight at it, not the next tick); if it
        is not, the run takes the first free millisecond after it."""
        assert entry.trigger is not None
        key = entry.trigger.key
        for _ in range(TIME_TRIES):
            when = entry.scheduled_at
            result = self.collection.update_one(
                {"_id": child_id, "chainKeys": {"$ne": key},
                 "inflight.scheduledAt": {"$ne": when}, "nextTickAt": {"$ne": when},
                 f"inflight.{self.max_waiting - 1}": {"$exists": False}},
                {"$push": {"inflight": entry.to_document(),
                           "chainKeys": {"$each": [key], "$slice": -KEPT_KEYS}}},
            )  # fmt: skip
            if result.modified_count:
                return 1
            child = self.collection.find_one(
                {"_id": child_id}, projection=["chainKeys", "inflight.scheduledAt", "nextTickAt"])
            if child is None or key in (child.get("chainKeys") or ()):
                return 0  # deleted, or already triggered
            if len(child.get("inflight") or ()) >= self.max_waiting:
                return self._skip(child_id, key)
            taken = {item.get("scheduledAt") for item in child.get("inflight") or ()}
            taken.add(child.get("nextTickAt"))
            while when in taken:
                when += timedelta(milliseconds=1)
            entry = replace(entry, scheduled_at=when, due_at=max(entry.due_at, when))
        raise RuntimeError(f"no free millisecond for a chained run of job {child_id}")

    def _skip(self, child_id: ObjectId, key: str) -> int:
        """The child holds ``max_waiting`` entries: count the run as skipped (once per key:
        the key is kept as a queued run's is) instead of queueing it."""
        result = self.collection.update_one(
            {"_id": child_id, "chainKeys": {"$ne": key}},
            {"$inc": {"skippedTicks": 1},
             "$push": {"chainKeys": {"$each": [key], "$slice": -KEPT_KEYS}}},
        )  # fmt: skip
        if result.modified_count:
            metrics.record_skipped("chain_full")
            log.warning("job %s: a chained run was skipped: %d runs of it are already waiting "
                        "or running", child_id, self.max_waiting)  # fmt: skip
        return 0

    def links(self, job_ids: list[ObjectId]) -> dict[ObjectId, Links]:
        """The lists of the jobs among ``job_ids`` that exist, by id (``by_id.py``)."""
        return {doc["_id"]: (tuple(doc.get("onSuccess") or ()), tuple(doc.get("onFailure") or ()))
                for doc in find_by_ids(self.collection, job_ids, ["onSuccess", "onFailure"])}

    def forget(self, job_id: ObjectId, now: datetime) -> int:
        """Remove a (deleted) job from every other job's lists; returns the jobs changed.

        One ``update_many`` per list, each through its sparse index: MongoDB would use both
        indexes for an ``$or`` of the two, but SecantusDB scans the collection for it
        (measured: 0.68 s at 20,000 jobs, against milliseconds)."""
        changed = 0
        for name in ("onSuccess", "onFailure"):
            result = self.collection.update_many(
                {name: job_id},
                {"$pull": {"onSuccess": job_id, "onFailure": job_id},
                 "$set": {"updatedAt": now}},
            )  # fmt: skip
            changed += result.modified_count
        return changed
