"""The catalog's copy of ``enabled`` for the jobs a claim or skip disabled (a one-off's
tick, a job's last before its ``endAt``): summed per process and written as one
``update_many`` within ``FLUSH_AFTER_S`` (``PendingDisables``), not one more write per
execution."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from scheduler_service.stores.by_id import IDS_PER_QUERY
from scheduler_service.stores.per_process import PerCollection

log = logging.getLogger(__name__)

FLUSH_AFTER_S = 0.1
RETRY_AFTER_S = 1.0  # after a failed write, the batch is written again this much later
# Jobs kept for a write that keeps failing; past this, the oldest are dropped (and logged:
# their entries say enabled until ``jobs recount``), so a database down for hours under a
# stream of one-offs does not grow the process without bound.
MAX_PENDING = 100_000


class PendingDisables:
    """One process's jobs disabled by a claim or skip (no tick left), not yet written to
    the catalog: written as one ``update_many`` ``FLUSH_AFTER_S`` after the first, or when
    this process lists jobs or closes. A batch whose write fails is kept and written
    again (``RETRY_AFTER_S``). Lost if the process is killed first (``kill -9``): such a
    job's entry says enabled until ``jobs recount`` (README, "Finding jobs").

    Each disable holds while the entry is not newer than the ``updatedAt`` its claim saw:
    an API change after the claim writes the entry itself with a newer one. The entry
    may be older than what the claim saw (a change of a field the catalog does not hold
    moves the job's ``updatedAt``, not the entry's), hence ``$lte``, and one bound for the
    batch, the newest seen (an ``$or`` of ``(_id, updatedAt)`` pairs is a collection scan
    on SecantusDB, and one ``UpdateOne`` per job in a bulk write cost twice the server
    time of the ``update_many`` per job, batches of 50, measured). With one bound, a job
    re-enabled through the API within the batch's 0.1 s, before the claim of a job
    changed later than it, can be disabled in the catalog while enabled in ``jobs``: the
    direction a list sees and repairs (``JobCatalog.verified``)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.lock = threading.Lock()
        self.writing = threading.Lock()
        self.jobs: dict[ObjectId, datetime | None] = {}
        self.timer: threading.Timer | None = None

    def add(self, jobs: Iterable[tuple[ObjectId, datetime | None]]) -> None:
        with self.lock:
            self.jobs.update(jobs)
            self._bound()
            self._start(FLUSH_AFTER_S)

    def _start(self, delay: float) -> None:
        """The timer of the next write, unless one is set (under ``lock``)."""
        if self.timer is None and self.jobs:
            self.timer = threading.Timer(delay, self._flush_quietly)
            self.timer.daemon = True
            self.timer.start()

    def _bound(self) -> None:
        """Drop the oldest beyond ``MAX_PENDING`` (under ``lock``)."""
        excess = len(self.jobs) - MAX_PENDING
        if excess > 0:
            for job_id in list(self.jobs)[:excess]:
                del self.jobs[job_id]
            log.warning("job catalog: %d disables dropped, not written (run jobs recount)",
                        excess)  # fmt: skip

    def flush(self) -> None:
        """Write the batch now; on a database error it is kept for the next write, and
        the error raised."""
        with self.writing:
            with self.lock:
                jobs, self.jobs = self.jobs, {}
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
            if not jobs:
                return
            try:
                for query in _queries(jobs):
                    self.collection.update_many(query, {"$set": {"enabled": False},
                                                        "$unset": {"endsAt": ""}})
            except PyMongoError:
                with self.lock:  # behind any added meanwhile: those are newer
                    self.jobs = {**jobs, **self.jobs}
                    self._bound()
                    self._start(RETRY_AFTER_S)
                raise

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except PyMongoError as exc:
            log.warning("job catalog not written, tried again in %.0f s: %s", RETRY_AFTER_S,
                        exc)  # fmt: skip


def _queries(jobs: dict[ObjectId, datetime | None]) -> list[dict[str, Any]]:
    """The filters of one batch's write: for the jobs whose claim saw an ``updatedAt``,
    and for those of an earlier version without one (rare); ``IDS_PER_QUERY`` ids each
    (SecantusDB's cost of an ``$in`` grows with the square of its list)."""
    dated = [job_id for job_id, seen in jobs.items() if seen is not None]
    undated = [job_id for job_id, seen in jobs.items() if seen is None]
    queries: list[dict[str, Any]] = []
    if dated:
        newest = {"$lte": max(seen for seen in jobs.values() if seen is not None)}
        queries += [{"_id": {"$in": dated[at:at + IDS_PER_QUERY]}, "updatedAt": newest}
                    for at in range(0, len(dated), IDS_PER_QUERY)]  # fmt: skip
    queries += [{"_id": {"$in": undated[at:at + IDS_PER_QUERY]}, "updatedAt": None}
                for at in range(0, len(undated), IDS_PER_QUERY)]  # fmt: skip
    return queries


# This process's pending disables of a catalog collection (one per client and collection).
pending_for = PerCollection(PendingDisables, at_exit=PendingDisables._flush_quietly)
