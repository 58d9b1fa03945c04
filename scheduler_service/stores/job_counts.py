"""The ``job_counts`` collection: how many jobs there are, how many are enabled, how many
carry each tag, and the oldest ``createdAt``: one document, kept up to date by the writes
that change them, so that counting costs one read whatever the number of jobs.

Counting on demand costs a read of every job counted on SecantusDB (measured at 100,000
jobs: ``estimated_document_count`` 0.7 s, ``count_documents({enabled: true})`` 3.5 s)
and an index walk on MongoDB. The changes that move a count (creating, deleting, enabling,
disabling and retagging through the API, and the claim or skip that ends a job with no
tick left) are summed per process and written as one ``$inc`` within ``FLUSH_AFTER_S``
(``PendingCounts``). They are not one transaction with the jobs' own writes: a process
that dies in between leaves the counts off, which ``recount`` (``flask --app wsgi jobs
recount``, and at start-up when the document is missing) puts right.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from scheduler_service.stores.job_days import day_key
from scheduler_service.stores.job_samples import fix_marks, mark_all
from scheduler_service.stores.per_process import PerCollection

log = logging.getLogger(__name__)

COLLECTION = "job_counts"
FLUSH_AFTER_S = 0.1
RECOUNT_TIMEOUT_S = 600.0
DOCUMENT_ID = "jobs"


def tag_key(tag: str) -> str:
    """A tag as a field name: tags may hold ``.``, a path separator in MongoDB's field
    names; ``%`` is not a tag character, so this is one-to-one."""
    return tag.replace(".", "%")


@dataclass(frozen=True)
class JobCounts:
    total: int = 0
    enabled: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    oldest_created_at: datetime | None = None
    days: dict[str, int] = field(default_factory=dict)  # jobs created per day (job_days)
    first: dict[str, datetime] = field(default_factory=dict)  # each day's first creation
    last: dict[str, datetime] = field(default_factory=dict)  # and last
    sampled: bool = False  # a recount has marked every job's sample (job_samples)

    def tagged(self, tag: str) -> int:
        return self.tags.get(tag_key(tag), 0)


def delta(enabled: int = 0, total: int = 0, tags: dict[str, int] | None = None,
          created_at: datetime | None = None) -> dict[str, int]:  # fmt: skip
    """The ``$inc`` of one change (zero entries left out); a job created or deleted
    (``total``) moves its ``created_at`` day too."""
    inc = {"total": total, "enabled": enabled}
    if created_at is not None:
        inc[f"days.{day_key(created_at)}"] = total
    for tag, n in (tags or {}).items():
        inc[f"tags.{tag_key(tag)}"] = inc.get(f"tags.{tag_key(tag)}", 0) + n
    return {name: n for name, n in inc.items() if n}


def tag_changes(before: list[str], after: list[str]) -> dict[str, int]:
    old, new = set(before), set(after)
    return {**dict.fromkeys(new - old, 1), **dict.fromkeys(old - new, -1)}


class PendingCounts:
    """One process's changes of the counts not yet written: summed, and written as one
    update ``FLUSH_AFTER_S`` after the first of them (a timer), or when this process
    reads the counts. A count written with each job costs a create on SecantusDB about a
    third of its rate (measured: 140 -> 200 creates/s, one client); summed, the counts
    of a burst of creates cost one write. Changes pending when a process dies are lost
    (``jobs recount``); other processes see them up to ``FLUSH_AFTER_S`` late."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.lock = threading.Lock()  # the sums
        self.writing = threading.Lock()  # one write at a time: a read waits for the timer's
        self.inc: dict[str, int] = {}
        self.low: dict[str, datetime] = {}
        self.high: dict[str, datetime] = {}
        self.timer: threading.Timer | None = None

    def add(self, inc: dict[str, int], created_at: datetime | None) -> None:
        with self.lock:
            for name, n in inc.items():
                self.inc[name] = self.inc.get(name, 0) + n
            if created_at is not None:
                day = day_key(created_at)
                for name in ("oldestCreatedAt", f"first.{day}"):
                    self.low[name] = min(self.low.get(name, created_at), created_at)
                self.high[f"last.{day}"] = max(self.high.get(f"last.{day}", created_at),
                                               created_at)  # fmt: skip
            if self.timer is None and (self.inc or self.low):
                self.timer = threading.Timer(FLUSH_AFTER_S, self._flush_quietly)
                self.timer.daemon = True
                self.timer.start()

    def _take(self) -> dict[str, Any]:
        with self.lock:
            update: dict[str, Any] = {}
            inc = {name: n for name, n in self.inc.items() if n}
            for operator, values in (("$inc", inc), ("$min", self.low), ("$max", self.high)):
                if values:
                    update[operator] = values
            self.inc, self.low, self.high = {}, {}, {}
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            return update

    def flush(self) -> None:
        with self.writing:
            update = self._take()
            if update:  # a document made here: no job of an earlier version to mark
                update["$setOnInsert"] = {"sampled": True}
                self.collection.update_one({"_id": DOCUMENT_ID}, update, upsert=True)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except PyMongoError as exc:  # lost: counts off until a recount says so
            log.warning("job counts not written (run jobs recount): %s", exc)

    def discard(self) -> None:
        with self.writing:
            self._take()


# This process's pending changes of a collection's counts (one per client and collection).
pending_for = PerCollection(PendingCounts, at_exit=PendingCounts._flush_quietly)


class JobCountStore:
    def __init__(self, database: Database) -> None:
        self.collection: Collection = database[COLLECTION]
        self.pending = pending_for(self.collection)

    def add(self, inc: dict[str, int], *, created_at: datetime | None = None) -> None:
        """Count a change: written within ``FLUSH_AFTER_S`` together with the others of
        this process meanwhile (``PendingCounts``), or at once by ``read``."""
        self.pending.add(inc, created_at)

    def read(self) -> JobCounts | None:
        self.pending.flush()  # this process's own changes first: it reads its writes
        document = self.collection.find_one({"_id": DOCUMENT_ID})
        if document is None:
            return None
        return JobCounts(
            total=int(document.get("total", 0)),
            enabled=int(document.get("enabled", 0)),
            tags={name: int(n) for name, n in (document.get("tags") or {}).items() if n > 0},
            oldest_created_at=document.get("oldestCreatedAt"),
            days={day: int(n) for day, n in (document.get("days") or {}).items()},
            first=dict(document.get("first") or {}), last=dict(document.get("last") or {}),
            sampled=bool(document.get("sampled")),
        )

    def mark_samples_later(self, jobs: Collection) -> None:
        """Mark the jobs of a database of an earlier version (``job_samples``) in a thread
        of this process: until then the list by name or next run reads more jobs a page,
        never other ones. Then note it, so that the next start does not."""

        def run() -> None:
            try:
                mark_all(jobs, RECOUNT_TIMEOUT_S)
                self.collection.update_one({"_id": DOCUMENT_ID}, {"$set": {"sampled": True}})
            except PyMongoError as exc:  # tried again at the next start
                log.warning("sampled jobs not marked (run jobs recount): %s", exc)

        threading.Thread(target=run, name="mark-samples", daemon=True).start()

    def recount(self, jobs: Collection) -> JobCounts:
        """Count every job (a read of each: seconds for 100,000 jobs on SecantusDB, past
        the usual database deadline, hence its own) and store the figures. Changes made
        meanwhile may be missed: run it when the API is quiet. It marks the sampled jobs
        too (``job_samples``): jobs written around the API have no mark."""
        total = enabled = 0
        tags: dict[str, int] = {}
        self.pending.discard()  # what they would add, the jobs read below hold
        oldest: datetime | None = None
        days: dict[str, int] = {}
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        with pymongo.timeout(RECOUNT_TIMEOUT_S):
            documents = list(jobs.find({}, projection=["enabled", "tags", "createdAt", "sample"]))
            fix_marks(jobs, documents)
        for document in documents:
            total += 1
            enabled += 1 if document.get("enabled") else 0
            for tag in set(document.get("tags") or []):
                tags[tag_key(tag)] = tags.get(tag_key(tag), 0) + 1
            created = document.get("createdAt")
            if created is not None:
                day = day_key(created)
                days[day] = days.get(day, 0) + 1
                first[day] = min(first.get(day, created), created)
                last[day] = max(last.get(day, created), created)
                oldest = created if oldest is None or created < oldest else oldest
        document: dict[str, Any] = {"total": total, "enabled": enabled, "tags": tags,
                                    "days": days, "first": first, "last": last,
                                    "sampled": True}  # fmt: skip
        if oldest is not None:  # absent, not null: $min keeps a null (it sorts first)
            document["oldestCreatedAt"] = oldest
        self.collection.replace_one({"_id": DOCUMENT_ID}, document, upsert=True)
        return JobCounts(total, enabled, tags, oldest, days, first, last, sampled=True)
