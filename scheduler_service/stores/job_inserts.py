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
its own: a request that finds no batch in flight writes its own job at once; requests
that arrive meanwhile queue, and when a batch is acknowledged the next one (the queue's
oldest, up to ``MAX_BATCH``) is written by the one of them whose database deadline
(``pymongo.timeout``, per request: ``api/deadline.py``) is the latest, in its thread
and under that deadline. So no request fails on a deadline earlier than its own: a
write that times out there has outlived every deadline of its batch.

Each request's wait is bounded by its own deadline: one whose deadline passes while it
is queued leaves the queue (nothing written) and raises ``ExecutionTimeout``, as pymongo
does; one whose deadline passes while its batch is being written by another raises it
too, at its deadline, and its job may still be written, as with a lone insert whose
deadline passes after it was sent (a timed-out write's outcome is unknown).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from pymongo import _csot
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    WriteConcernError,
    WriteError,
)

from scheduler_service.stores.job_catalog import JobCatalog
from scheduler_service.stores.job_counts import JobCountStore, delta

MAX_BATCH = 64  # jobs in one insert_many: bounded, as a job's body may be megabytes

UNSENT = "while queued behind other jobs' write (job not written)"
IN_FLIGHT = "while its batch was being written (the job may be written)"

# Writes a batch; per document, None (written) or the exception its request raises.
BatchWriter = Callable[[list[dict[str, Any]]], Sequence[BaseException | None]]


class _Slot:
    __slots__ = ("batch", "deadline", "document", "done", "error")

    def __init__(self, document: dict[str, Any], deadline: float) -> None:
        self.document = document
        self.deadline = deadline  # time.monotonic(); inf: none
        self.done = threading.Event()  # written (or failed), or given a batch to write
        self.error: BaseException | None = None
        self.batch: list[_Slot] | None = None  # the batch this one writes


class GroupedInserts:
    """Leader/follower group commit of inserts (the module's docstring)."""

    def __init__(self, write: BatchWriter, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Slot] = deque()
        self._busy = False  # a batch is being written; the queue waits for it

    def submit(self, document: dict[str, Any]) -> None:
        """Insert ``document`` (with the others queued meanwhile); raise its error."""
        slot = _Slot(document, _deadline())
        with self._lock:
            if self._busy:
                self._queue.append(slot)
            else:
                self._busy = True
                slot.batch = [slot]
        if slot.batch is None and (expired := self._wait(slot)) is not None:
            raise expired
        if slot.batch is not None:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error

    def _wait(self, slot: _Slot) -> BaseException | None:
        """Wait until ``slot`` is written or is to write a batch, or until its deadline:
        then the timeout it raises (its job not written if it was still queued)."""
        left = slot.deadline - time.monotonic()
        if slot.done.wait(None if left == math.inf else max(left, 0.0)):
            return None
        with self._lock:
            if slot.done.is_set():  # just now
                return None
            if slot in self._queue:
                self._queue.remove(slot)
                return _expired(UNSENT)
        return _expired(IN_FLIGHT)

    def _lead(self, leader: _Slot) -> None:
        batch = leader.batch or [leader]
        for slot in batch:  # until the write says otherwise
            slot.error = RuntimeError("job not written: its batch failed")
        try:
            try:
                errors = list(self._write([slot.document for slot in batch]))
            except BaseException as exc:  # nothing known of any: each of them raises it
                errors = [exc] * len(batch)
            for slot, error in zip(batch, errors, strict=True):
                slot.error = error if slot is leader else _own(error)
        finally:
            with self._lock:
                for slot in batch:
                    if slot is not leader:
                        slot.done.set()
                self._hand_on()

    def _hand_on(self) -> None:
        """The next batch (the lock held): the oldest queued, up to ``max_batch``, given
        to the one of them with the latest deadline; those already past theirs leave
        with their timeout, unwritten."""
        now = time.monotonic()
        batch: list[_Slot] = []
        while self._queue and len(batch) < self._max_batch:
            slot = self._queue.popleft()
            if slot.deadline <= now:
                slot.error = _expired(UNSENT)
                slot.done.set()
            else:
                batch.append(slot)
        if not batch:
            self._busy = False
            return
        leader = max(batch, key=lambda slot: slot.deadline)  # the first of equals
        leader.batch = batch
        leader.done.set()


def _deadline() -> float:
    """The calling request's database deadline (``pymongo.timeout``) on the monotonic
    clock, inf if none. pymongo keeps it in a private module (``_csot``, pinned
    pymongo): the value its own operations in this thread are bounded by."""
    left = _csot.remaining()
    return math.inf if left is None else time.monotonic() + left


def _expired(where: str) -> ExecutionTimeout:
    """The timeout pymongo raises past a deadline (503 ``UNAVAILABLE``, as any)."""
    message = f"operation exceeded time limit {where}"
    return ExecutionTimeout(message, 50, {"ok": 0, "errmsg": message, "code": 50})


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
