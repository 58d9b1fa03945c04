"""A last look at the jobs of ticks claimed ahead, just before their time.

A tick claimed ahead (``dispatcher.AHEAD``, 300 ms before its time) was judged on the job
as it read then. A job deleted or disabled through the API after that (from any process)
must not fire that tick: the contract's "stops firing at once". So when the starter thread
hands a batch of such ticks to their workers (``dispatcher.HANDOFF`` before their time), a
thread of its own reads their jobs once (``_id``, ``enabled``, ``updatedAt`` and the
entries' ids and owners), and each worker, at its tick's time at the latest, asks for its
verdict (``verdict``): the job gone, or our entry gone, or the job disabled since (its
``updatedAt`` moved and it reads disabled) cancels the tick; a disabled job's entry is then
pulled. The worker never waits past its tick's time for the read: an answer not back by
then (a slow or failing database) lets the tick run, as before this look existed.

A job changed in another way (a new schedule, endpoint, body) still runs the tick claimed
ahead as it was claimed. A one-off's claim disables it itself: a change of it that leaves
it disabled in those last 300 ms cancels it too.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from scheduler_service.scheduler.claims import Claim
from scheduler_service.stores.by_id import find_by_ids

log = logging.getLogger(__name__)

FIELDS = ["enabled", "updatedAt", "inflight.id", "inflight.owner"]
DropEntry = Callable[[ObjectId, ObjectId, str], None]  # ``TickStore.drop_entry``
READ_BUDGET_S = 1.0  # the read's database deadline; a worker waits until its tick at most


class Verdict(enum.Enum):
    RUN = "run"
    GONE = "gone"  # the job was deleted, or our entry is gone: nothing to write
    RELEASE = "release"  # the job was disabled since: pull our entry, do not run


@dataclass(frozen=True)
class JobLook:
    """What the last look reads of a job (``FIELDS``)."""

    enabled: bool
    updated_at: datetime | None
    entries: frozenset[tuple[object, object]]  # (id, owner) of each entry in flight

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> JobLook:
        return cls(enabled=bool(document.get("enabled")), updated_at=document.get("updatedAt"),
                   entries=frozenset((e.get("id"), e.get("owner"))
                                     for e in document.get("inflight") or ()))  # fmt: skip


def judge(claim: Claim, fresh: JobLook | None) -> Verdict:
    """What to do with ``claim`` (claimed ahead) now that its job reads as ``fresh``."""
    if fresh is None:
        return Verdict.GONE
    if (claim.entry.id, claim.entry.owner) not in fresh.entries:
        return Verdict.GONE
    if fresh.updated_at != claim.job.updated_at and not fresh.enabled:
        return Verdict.RELEASE
    return Verdict.RUN


class AheadCheck:
    """``collection`` None: no last look, every tick runs (a dispatcher on its own)."""

    def __init__(self, collection: Collection | None = None,
                 drop_entry: DropEntry | None = None) -> None:  # fmt: skip
        self.collection = collection
        self.drop_entry = drop_entry
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="ahead-check")
        self._pending: dict[tuple[object, object], Future[dict[object, JobLook]]] = {}
        self._lock = threading.Lock()

    def look(self, claims: Iterable[Claim], now: datetime | None = None) -> None:
        """Start one read of these claims' jobs (a thread of its own). ``now``: the
        scheduler's clock; a read that would start after the last of their times is not
        made (no worker waits for it then), so reads behind a slow database do not pile
        up."""
        claims = list(claims)
        if not claims or self.collection is None:
            return
        until = math.inf
        starts = [c.entry.started_at for c in claims if c.entry.started_at is not None]
        if now is not None and starts:
            until = time.monotonic() + (max(starts) - now).total_seconds()
        ids = list(dict.fromkeys(claim.job.id for claim in claims))
        future = self._reads.submit(self._read, ids, until)
        with self._lock:
            for claim in claims:
                self._pending[claim.key] = future

    def _read(self, ids: list[ObjectId], until: float) -> dict[object, JobLook]:
        assert self.collection is not None
        left = until - time.monotonic()
        if left <= 0:
            raise TimeoutError("too late for a last look")
        with pymongo.timeout(min(left, READ_BUDGET_S)):
            return {document["_id"]: JobLook.from_document(document)
                    for document in find_by_ids(self.collection, ids, FIELDS)}  # fmt: skip

    def verdict(self, claim: Claim, until: float) -> Verdict:
        """The verdict on ``claim`` from its look, waiting for it until ``until``
        (``time.monotonic()``) at most; RUN if none was started, or none came back by then.
        A RELEASE's entry is pulled here."""
        with self._lock:
            future = self._pending.pop(claim.key, None)
        if future is None:
            return Verdict.RUN
        try:
            fresh = future.result(timeout=max(until - time.monotonic(), 0.0))
        except Exception as exc:  # TimeoutError, PyMongoError: as if not looked at
            log.debug("no last look at job %s's tick claimed ahead: %r", claim.job.id, exc)
            return Verdict.RUN
        verdict = judge(claim, fresh.get(claim.job.id))
        if verdict is Verdict.RELEASE and self.drop_entry is not None:
            try:
                self.drop_entry(claim.job.id, claim.entry.id, claim.entry.owner)
            except PyMongoError as exc:  # its lease runs out; then settled by any process
                log.warning("could not let go of disabled job %s's tick: %s", claim.job.id, exc)
        if verdict is not Verdict.RUN:
            log.info("job %s: tick %s claimed ahead not run, the job was %s since", claim.job.id,
                     claim.entry.scheduled_at.isoformat(),
                     "deleted" if verdict is Verdict.GONE else "disabled")  # fmt: skip
        return verdict

    def forget(self, claim: Claim) -> None:
        """``claim`` will not ask for its verdict (given back)."""
        with self._lock:
            self._pending.pop(claim.key, None)

    def shutdown(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)
