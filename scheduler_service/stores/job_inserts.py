"""New jobs from concurrent requests, written together: one ``insert_many`` into
``job_catalog`` (first: no job without its entry) and one into ``jobs`` (journaled, as
every API write) for all the jobs created while the previous batch was being written.

Why: each create writes two documents, and on SecantusDB most of a write's cost is the
command's, not the document's (measured, 4 threads, a collection without indexes: 437
journaled ``insert_one`` a second against 1,187 documents a second in ``insert_many`` of
4; each journaled commit is an fsync, and inserts into one collection are committed one
at a time). MongoDB also makes one journal commit wait for the next group commit
(``j: true``), so a batch costs it one wait instead of several.

Nothing is acknowledged sooner than before: each request waits until its own job is in
the journal and its catalog entry written (the counts follow within 0.1 s, as before),
so a 201 still means the job is stored and listed. Leader and followers, no thread of
its own: a request that finds no batch in flight writes at once, with whatever is
queued (its own job first), under its own request's database deadline; requests that
arrive meanwhile queue, and the oldest of them writes the next batch when this one is
acknowledged. Each request's wait is thus bounded by its own deadline: the batch ahead
of it is bounded by an older request's, and its own by its own.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteConcernError, WriteError

from scheduler_service.stores.job_catalog import JobCatalog
from scheduler_service.stores.job_counts import JobCountStore, delta

MAX_BATCH = 64  # jobs in one insert_many: bounded, as a job's body may be megabytes

# Writes a batch; per document, None (written) or the exception its request raises.
BatchWriter = Callable[[list[dict[str, Any]]], Sequence[BaseException | None]]


class _Slot:
    __slots__ = ("document", "done", "error", "lead")

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.done = threading.Event()  # written (or failed), or asked to lead: see ``lead``
        self.error: BaseException | None = None
        self.lead = False


class GroupedInserts:
    """Leader/follower group commit of inserts (the module's docstring)."""

    def __init__(self, write: BatchWriter, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._busy = False  # a batch is being written; the queue waits for it

    def submit(self, document: dict[str, Any]) -> None:
        """Insert ``document`` (with the others queued meanwhile); raise its error."""
        slot = _Slot(document)
        with self._lock:
            self._queue.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.done.wait()  # written by another, or this one leads the next batch
        if slot.lead or lead:
            self._lead()
        if slot.error is not None:
            raise slot.error

    def _lead(self) -> None:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        for slot in batch:  # until the write says otherwise
            slot.error = RuntimeError("job not written: its batch failed")
        try:
            try:
                errors = list(self._write([slot.document for slot in batch]))
            except BaseException as exc:  # nothing known of any: each of them raises it
                errors = [exc] * len(batch)
            for position, (slot, error) in enumerate(zip(batch, errors, strict=True)):
                slot.error = error if position == 0 else _own(error)
        finally:
            with self._lock:
                for slot in batch[1:]:
                    slot.done.set()
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._busy = False


def _own(error: BaseException | None) -> BaseException | None:
    """A copy of an exception that several threads raise (each sets its traceback)."""
    if error is None:
        return None
    try:
        return copy.copy(error)
    except Exception:  # a class copy cannot rebuild from its args: share it
        return error


def batch_writer(jobs: Collection, catalog: JobCatalog, counts: JobCountStore) -> BatchWriter:
    """The write of a batch of new jobs' documents (each with its ``_id`` and sample mark):
    their catalog entries first (``JobCatalog.add_many``: no job without its entry; an
    error there fails the batch before any job is written), then the jobs, then the counts
    of those written; the entries of the jobs the database refused are deleted."""

    def write(documents: list[dict[str, Any]]) -> list[BaseException | None]:
        errors: list[BaseException | None] = [None] * len(documents)
        entered = catalog.add_many(documents)
        try:
            jobs.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            for failed in exc.details.get("writeErrors", []):
                kind = DuplicateKeyError if failed.get("code") == 11000 else WriteError
                errors[failed["index"]] = kind(failed.get("errmsg", ""), failed.get("code"),
                                               failed)  # fmt: skip
            concern = exc.details.get("writeConcernErrors") or []
            if concern:  # written, durability unknown: listed and counted, and said
                error = concern[0]
                errors = [failure or WriteConcernError(error.get("errmsg", ""),
                                                       error.get("code"), error)
                          for failure in errors]  # fmt: skip
        written = [document for document, error in zip(documents, errors, strict=True)
                   if error is None or isinstance(error, WriteConcernError)]  # fmt: skip
        refused = [document["_id"] for document, error in zip(documents, errors, strict=True)
                   if isinstance(error, WriteError) and document["_id"] in entered]  # fmt: skip
        if refused:  # not a job's (a duplicate's own entry was there before: not entered)
            catalog.remove(*refused)
        for document in written:
            tags = document.get("tags") or []
            counts.add(delta(total=1, enabled=int(bool(document.get("enabled"))),
                             tags=dict.fromkeys(tags, 1), created_at=document.get("createdAt")),
                       created_at=document.get("createdAt"))  # fmt: skip
        return errors

    return write
