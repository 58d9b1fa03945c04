"""Releasing ticks: the writes that let go of entries in flight, part of ``TickStore``.

A settled tick's entry pulled, several at once, a dead process's success dropped, ticks
claimed ahead given back, a stopping process's jobs handed over, and the renewal of the
leases this process holds. Each holds only for the owner named (compare-and-set).
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo.collection import Collection

from scheduler_service.records import Entry


class TickReleases:
    collection: Collection

    def drop_entry(self, job_id: ObjectId, entry_id: ObjectId, owner: str) -> None:
        """The tick is settled (success, last failure, or given up): forget it, if ``owner``
        still holds it (a process whose lease ran out while it lived must not drop the entry
        another process has since re-claimed and is running)."""
        self.collection.update_one(
            {"_id": job_id}, {"$pull": {"inflight": {"id": entry_id, "owner": owner}}}
        )

    def drop_settled_entry(self, job_id: ObjectId, entry: Entry) -> bool:
        """Remove a running entry whose attempt is recorded as a success (its process died
        after writing the result, before releasing the tick). Holds only while the entry is
        as seen."""
        pulled = {"id": entry.id, "state": entry.state.value, "attempt": entry.attempt,
                  "owner": entry.owner, "dueAt": entry.due_at}  # fmt: skip
        result = self.collection.update_one({"_id": job_id}, {"$pull": {"inflight": pulled}})
        return result.modified_count == 1

    def skip_pre_claimed(self, job_id: ObjectId, entry_id: ObjectId, owner: str) -> bool:
        """A tick claimed with the one before (``scheduler/pre_claims.py``) that the overlap
        rule refuses at its time: forget it, counted as skipped, if ``owner`` still holds it."""
        result = self.collection.update_one(
            {"_id": job_id, "inflight": {"$elemMatch": {"id": entry_id, "owner": owner}}},
            {"$pull": {"inflight": {"id": entry_id, "owner": owner}},
             "$inc": {"skippedTicks": 1}},
        )  # fmt: skip
        return result.modified_count == 1

    def drop_entries(self, entries: list[tuple[ObjectId, ObjectId]], owner: str) -> list[None]:
        """``drop_entry`` for several ticks: one write per entry id (ticks claimed together
        share one), each naming exactly the jobs it belongs to."""
        jobs_by_entry: dict[ObjectId, list[ObjectId]] = {}
        for job_id, entry_id in entries:
            jobs_by_entry.setdefault(entry_id, []).append(job_id)
        for entry_id, job_ids in jobs_by_entry.items():
            self.collection.update_many(
                {"_id": {"$in": job_ids}},
                {"$pull": {"inflight": {"id": entry_id, "owner": owner}}},
            )
        return [None] * len(entries)

    def unclaim(self, claimed: list[tuple[ObjectId, Entry]], owner: str) -> int:
        """Give back ticks claimed ahead and not started (a process stopping): each entry
        becomes a waiting one, due at its tick's start, for any process to claim; one write
        per entry id (ticks claimed together share one)."""
        by_entry: dict[ObjectId, tuple[Entry, list[ObjectId]]] = {}
        for job_id, entry in claimed:
            by_entry.setdefault(entry.id, (entry, []))[1].append(job_id)
        given = 0
        for entry_id, (entry, job_ids) in by_entry.items():
            given += self.collection.update_many(
                {"_id": {"$in": job_ids},
                 "inflight": {"$elemMatch": {"id": entry_id, "owner": owner}}},
                {"$set": {"inflight.$.state": "waiting", "inflight.$.owner": None,
                          "inflight.$.dueAt": entry.started_at}},
            ).modified_count  # fmt: skip
        return given

    def release_jobs(self, job_ids: list[ObjectId], owner: str) -> int:
        """Forget that ``owner`` claimed these jobs last, so that other processes take their
        next ticks on time rather than after the take-over delay (a process stopping)."""
        result = self.collection.update_many(
            {"_id": {"$in": job_ids}, "claimedBy": owner}, {"$set": {"claimedBy": None}}
        )
        return result.modified_count

    def renew_leases(
        self, owned: list[tuple[ObjectId, ObjectId]], owner: str, until: datetime
    ) -> int:
        """Push the lease of running entries this process owns to ``until``.

        One write per entry, a third of a lease apart: cheap next to the attempts themselves.
        (A single ``update_many`` with ``arrayFilters`` would do, but mongomock lacks them.)
        """
        renewed = 0
        for job_id, entry_id in owned:
            result = self.collection.update_one(
                {"_id": job_id, "inflight": {"$elemMatch": {"id": entry_id, "owner": owner}}},
                {"$set": {"inflight.$.dueAt": until}},
            )
            renewed += result.modified_count
        return renewed
