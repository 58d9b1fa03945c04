"""Claiming and settling ticks: compare-and-set writes on the ``jobs`` collection.

A tick in flight is an ``Entry`` (``records/entry.py``) in the job's ``inflight`` array.
Every claim is a single write whose filter holds what the claimer saw; only the process
whose write modified the document runs the tick. A write whose outcome is unknown (the
connection dropped) raises, and the caller treats it as lost. ``scheduler/claimer.py``
decides what to claim; this module is how.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from scheduler_service.records import Entry, Job
from scheduler_service.stores.by_id import find_by_ids
from scheduler_service.stores.job_catalog import JobCatalog
from scheduler_service.stores.job_counts import JobCountStore, delta
from scheduler_service.stores.key_bounds import inclusive
from scheduler_service.stores.tick_releases import TickReleases

# What the scheduler needs of a job to fire it; `inflight` included for the overlap rule.
JOB_FIELDS = [
    "schedule",
    "endpoint",
    "method",
    "headers",
    "body",
    "executionType",
    "enabled",
    "retryAttempts",
    "retryDelay",
    "retryDelayMax",
    "timeoutMs",
    "alertEndpoint",
    "signingSecret",
    "concurrencyPolicy",
    "missedRunPolicy",
    "nextRunAt",
    "nextTickAt",
    "timezone",
    "runAt",
    "jitterMs",
    "priority",  # the order due ticks are claimed and started in
    "endAt",
    "name",  # for its dead letters
    "onSuccess",  # chained jobs, triggered when a tick settles (absent from most jobs)
    "onFailure",
    "updatedAt",
    "inflight",
    "claimedBy",
]

# What a poll reads of every due job to decide whether to queue its tick.
TICK_FIELDS = ["nextRunAt", "claimedBy"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Settled entries a claim replaces: one id, one job's ids in order, or a list of either.
Replaced = ObjectId | tuple[ObjectId, ...] | list[ObjectId | tuple[ObjectId, ...]] | None


def _positions(replaces: Replaced) -> list[list[ObjectId]]:
    """The ids each position of ``inflight`` may hold, from ``claim_ticks``'s ``replaces``."""
    items = replaces if isinstance(replaces, list) else [replaces]
    held = [item if isinstance(item, tuple) else (item,) for item in items if item is not None]
    if len({len(ids) for ids in held}) != 1:
        raise ValueError("the jobs claimed together must each replace as many entries")
    return [list(dict.fromkeys(ids[at] for ids in held)) for at in range(len(held[0]))]


def as_seen(job: Job) -> dict[str, Any]:
    """A filter matching the job only while its tick and definition are as the poller saw
    them and it is still enabled."""
    return {"_id": job.id, "enabled": True, "nextRunAt": job.next_run_at,
            "updatedAt": job.updated_at}  # fmt: skip


def next_tick(following: datetime | None, tick: datetime | None) -> dict[str, Any]:
    """The fields a claim or skip sets for the job's next tick: when it starts, the tick,
    and (no tick left) ``enabled: false``."""
    fields: dict[str, Any] = {"nextRunAt": following, "nextTickAt": tick or following}
    if following is None:
        fields["enabled"] = False
    return fields




class TickStore(TickReleases):
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database["jobs"]
        self.counts = JobCountStore(database)
        self.catalog = JobCatalog(database)

    def due_ticks(self, horizon: datetime, limit: int, *, by_priority: bool = False) -> list[Job]:
        """``_id``, ``nextRunAt`` and ``claimedBy`` of the enabled jobs whose next tick is at
        or before ``horizon``, earliest first, or (``by_priority``) the highest priority
        first, then the earliest. Small documents: a poll sees most due jobs again (already
        queued here, or another process's to claim), and fetches in full only the ones it
        queues, with ``jobs_by_id``.

        Earliest first walks the ``{enabled, nextRunAt}`` index and stops at ``limit``. By
        priority reads and sorts every due job: no index serves it (one on ``{enabled,
        priority: -1, nextRunAt}`` would let MongoDB stop at ``limit``, but costs every
        claim one more index key, and SecantusDB uses it only when hinted, then scanning
        the whole index: measured 20 s at 100k jobs). A job stored before priorities
        existed is given 5 at start-up (``job_priorities.py``)."""
        order = [("priority", DESCENDING)] if by_priority else []
        due = inclusive(horizon, upper=True)  # ``<= horizon`` as SecantusDB reads it right
        cursor = (
            self.collection.find({"enabled": True, "nextRunAt": due}, projection=TICK_FIELDS)
            .sort([*order, ("nextRunAt", ASCENDING)])
            .limit(limit)
            .batch_size(limit)
        )
        return [Job.from_document(document) for document in cursor]

    def jobs_by_id(self, job_ids: list[ObjectId]) -> list[Job]:
        """What the scheduler needs of these jobs (``JOB_FIELDS``); missing ones are left out
        (read ``IDS_PER_QUERY`` ids a query: ``by_id.py``)."""
        return [Job.from_document(document)
                for document in find_by_ids(self.collection, job_ids, JOB_FIELDS)]  # fmt: skip

    def jobs_with_due_entries(self, horizon: datetime, limit: int) -> list[Job]:
        """Jobs with a waiting entry due by ``horizon``, or a running one whose lease ends;
        the highest priority first, as ``due_ticks``."""
        cursor = (
            # The lower bound changes nothing on MongoDB, but lets SecantusDB use the index
            # instead of scanning every job (measured: 3.3 s -> 1.4 ms at 100k jobs).
            self.collection.find(
                {"inflight.dueAt": {"$gte": EPOCH, "$lte": horizon}}, projection=JOB_FIELDS
            )
            .sort([("priority", DESCENDING), ("inflight.dueAt", ASCENDING)])
            .limit(limit)
        )
        return [Job.from_document(document) for document in cursor]

    def claim_tick(self, job: Job, entry: Entry, following: datetime | None, *,
                   forbid_overlap: bool, started_at: datetime,
                   following_tick: datetime | None = None) -> bool:  # fmt: skip
        """``claim_ticks`` for one job."""
        return job.id in self.claim_ticks([job], entry, following, forbid_overlap=forbid_overlap,
                                          started_at=started_at, following_tick=following_tick)

    def claim_ticks(
        self,
        jobs: list[Job],
        entry: Entry,
        following: datetime | None,
        *,
        forbid_overlap: bool,
        started_at: datetime,
        following_tick: datetime | None = None,
        replaces: Replaced = None,
        replaced_owner: str | None = None,
        pre_claimed: tuple[Entry, ...] = (),
        claimed_by: str | None = None,
    ) -> set[ObjectId]:
        """Take the scheduled tick of jobs that share it (same ``nextRunAt``, same next one):
        advance ``nextRunAt`` to ``following``, record ``entry`` as running and its owner as
        the job's ``claimedBy`` (who takes the next tick first), in one write
        that holds, job by job, only while the job is as seen (same ``nextRunAt``, same
        definition, still enabled). Returns the ids of the jobs won.

        The jobs share ``entry`` (and so its id): an entry is always named together with its
        job. When not all were won, one read of the entry's owner tells which were.

        ``following`` is when the next tick starts, ``following_tick`` the tick itself (they
        differ by its jitter; default: the same). None: the job has no tick left, and the
        same write disables it.

        ``replaces``: the jobs hold exactly these entries, in this order, settled ones (this
        process's, or ``replaced_owner``'s), which the claim replaces (their release folded
        into the claim, ``releases.py``); the overlap rule then has nothing to refuse.
        Several (``Replaced``): a tuple, the entries of one job in order (a tick and the one
        claimed with it); a list (the settled entries of jobs claimed in different writes),
        each item an id or such a tuple: each job holds, position by position, one of those
        ids, and they are its own. The caller took them (``Releases.take``) from the job as
        seen, holding only those entries, and the filter holds only while the job's
        ``nextRunAt`` is as seen: a job never gets back an entry id it held before, and gets
        another one's only in the claim that made it, which moves ``nextRunAt`` on.

        ``pre_claimed``: the ticks after ``entry``'s claimed in the same write (running
        entries of this process, each started and leased from its own time,
        ``scheduler/pre_claims.py``); ``following`` is then the tick after the last one.

        ``claimed_by``: the job's ``claimedBy`` if not the entry's owner (a process this
        one hands the jobs over to, ``scheduler/balance.py``).
        """
        if len(jobs) == 1:
            query = as_seen(jobs[0])
        else:
            # Not an $or of (_id, updatedAt) pairs: SecantusDB scans the collection for that.
            # A job changed since the poll has a new updatedAt, the time of that change,
            # which matches none of the seen ones.
            query = {
                "_id": {"$in": [job.id for job in jobs]},
                "updatedAt": {"$in": list({job.updated_at for job in jobs})},
                "enabled": True,
                "nextRunAt": jobs[0].next_run_at,
            }
        fields = {**next_tick(following, following_tick), "lastRunAt": started_at,
                  "claimedBy": claimed_by or entry.owner}  # fmt: skip
        update: dict[str, Any]
        entries = [entry.to_document(), *(e.to_document() for e in pre_claimed)]
        if replaces:
            held = _positions(replaces)
            for at, ids in enumerate(held):
                query.update({f"inflight.{at}.id": ids[0] if len(ids) == 1 else {"$in": ids},
                              f"inflight.{at}.owner": replaced_owner or entry.owner})  # fmt: skip
            query[f"inflight.{len(held)}"] = {"$exists": False}
            update = {"$set": {**fields, "inflight": entries}}
        else:
            if forbid_overlap:
                query["inflight.0"] = {"$exists": False}
            pushed = {"$each": entries} if pre_claimed else entries[0]
            update = {"$set": fields, "$push": {"inflight": pushed}}
        modified = self.collection.update_many(query, update).modified_count
        self.counts.add(delta(enabled=-modified if following is None else 0))  # disabled
        if modified == len(jobs) or modified == 0:
            won = {job.id for job in jobs} if modified else set()
        else:
            won = {document["_id"] for document in self.collection.find(
                {"_id": {"$in": [job.id for job in jobs]},
                 "inflight": {"$elemMatch": {"id": entry.id, "owner": entry.owner}}},
                projection=["_id"])}  # fmt: skip
        if following is None and won:  # the catalog's copy of enabled, batched
            self.catalog.disabled((job.id, job.updated_at) for job in jobs if job.id in won)
        return won

    def skip_tick(
        self,
        job: Job,
        following: datetime | None,
        count: int = 1,
        *,
        only_if_busy: bool = False,
        following_tick: datetime | None = None,
    ) -> bool:
        """Move past the tick without running it: missed ticks skipped by policy, or (with
        ``only_if_busy``) a tick that fell due while the job's previous tick still runs."""
        query = as_seen(job)
        if only_if_busy:
            query["inflight.0"] = {"$exists": True}
        update = {"$set": next_tick(following, following_tick), "$inc": {"skippedTicks": count}}
        skipped: bool = self.collection.update_one(query, update).modified_count == 1
        self.counts.add(delta(enabled=-1 if skipped and following is None else 0))  # disabled
        if skipped and following is None:
            self.catalog.disabled([(job.id, job.updated_at)])
        return skipped

    def claim_entry(self, job_id: ObjectId, seen: Entry, taken: Entry) -> bool:
        """Take a waiting entry, or the running entry of a process whose lease ran out.

        The filter pins the entry's state, due time and owner as ``seen``; the entry becomes
        ``taken`` (``Entry.taken``: new owner, lease, start and attempt number).
        """
        query = {
            "_id": job_id,
            "inflight": {
                "$elemMatch": {
                    "id": seen.id, "state": seen.state.value, "dueAt": seen.due_at,
                    "owner": seen.owner,
                }
            },
        }  # fmt: skip
        changes = {"state": taken.state.value, "owner": taken.owner, "dueAt": taken.due_at,
                   "startedAt": taken.started_at, "attempt": taken.attempt}  # fmt: skip
        update = {"$set": {f"inflight.$.{key}": value for key, value in changes.items()}}
        return self.collection.update_one(query, update).modified_count == 1

    def schedule_retry(
        self, job_id: ObjectId, owner: str, retry: Entry, *, enabled_only: bool = False
    ) -> bool:
        """Turn the entry ``owner`` runs into its waiting ``retry`` (``Entry.retry``);
        ``enabled_only``: and only while the job is enabled."""
        query: dict[str, Any] = {
            "_id": job_id,
            "inflight": {"$elemMatch": {"id": retry.id, "owner": owner}},
        }
        if enabled_only:
            query["enabled"] = True
        changes = {"state": retry.state.value, "owner": retry.owner, "attempt": retry.attempt,
                   "dueAt": retry.due_at}  # fmt: skip
        result = self.collection.update_one(
            query,
            {"$set": {f"inflight.$.{key}": value for key, value in changes.items()}},
        )
        return result.modified_count == 1
