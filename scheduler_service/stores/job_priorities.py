"""Jobs stored before ``priority`` existed get the default one, by the first start after an
upgrade (an idempotent migration).

Such a job runs as priority 5 (``Job.from_document`` reads a missing field so), but has no
field to sort by: a poll behind a backlog reads the due ticks and entries highest priority
first (``TickStore.due_ticks``, ``jobs_with_due_entries``), and a missing field sorts after
every value, so the job waited behind even priority 1. ``fill`` writes ``priority: 5``
where it is missing: one ``update_many`` that touches nothing else (not ``updatedAt``) and,
once done, matches nothing, so running it twice, or in two processes at once, is harmless.
A state document beside the counts (``job_counts``, as the catalog's) notes it done, so a
later start does not read every job for it again (SecantusDB: no index serves a missing
field). ``jobs recount`` runs it too, for jobs written around the API or by a process of
an earlier version after the upgrade.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from scheduler_service.records import DEFAULT_PRIORITY

log = logging.getLogger(__name__)

STATE_COLLECTION = "job_counts"
STATE_ID = "priorities"
FILL_TIMEOUT_S = 600.0  # writing every job of a large database: far past the usual deadline
# At most this many jobs, the start fills them before it serves; more, in a thread (a
# gunicorn worker must start within 30 s; SecantusDB writes about 2 ms a document).
SYNC_FILL_JOBS = 5000


class JobPriorities:
    def __init__(self, jobs: Collection, database: Database) -> None:
        self.jobs = jobs
        self.state: Collection = database[STATE_COLLECTION]

    def done(self) -> bool:
        """Whether a start (or ``jobs recount``) filled them already."""
        return self.state.find_one({"_id": STATE_ID}) is not None

    def ensure(self) -> threading.Thread | None:
        """At start-up: fill the missing priorities unless that was done; in a thread
        (returned) when the database holds more than ``SYNC_FILL_JOBS`` jobs."""
        if self.done():
            return None
        if self.jobs.estimated_document_count() <= SYNC_FILL_JOBS:
            self._fill_logged()
            return None
        log.info("giving the jobs of an earlier version a priority in the background")
        thread = threading.Thread(target=self._fill_logged, name="job-priorities", daemon=True)
        thread.start()
        return thread

    def fill(self) -> int:
        """Give every job without a priority the default one, then note it done; the
        number of jobs changed."""
        with pymongo.timeout(FILL_TIMEOUT_S):
            changed = self.jobs.update_many({"priority": {"$exists": False}},
                                            {"$set": {"priority": DEFAULT_PRIORITY}})  # fmt: skip
            self.state.update_one({"_id": STATE_ID},
                                  {"$set": {"filledAt": datetime.now(UTC)}}, upsert=True)
        if changed.modified_count:
            log.info("gave %d jobs of an earlier version the default priority %d",
                     changed.modified_count, DEFAULT_PRIORITY)  # fmt: skip
        return changed.modified_count

    def _fill_logged(self) -> None:
        try:
            self.fill()
        except PyMongoError as exc:  # tried again at the next start
            log.warning("jobs without a priority not filled (run jobs recount): %s", exc)
