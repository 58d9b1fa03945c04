"""One lease, in the database, that every change of ``onSuccess``/``onFailure`` holds from
its cycle check to its write, so that two changes never check against a graph the other is
about to change, and no create names a job while it is deleted: without it,
``A.onSuccess = [B]`` and ``B.onSuccess = [A]`` sent at once each passed the check alone,
and together made a cycle whose jobs triggered one another without end (half of 20 tries
did, through the API on the wire server).

The lease is a document ``{_id: "chains", owner, until}`` in ``locks``: taken by a
conditional upsert (free, or its holder's lease ran out; a held one fails the upsert with a
duplicate key), given back by deleting it. A process that dies holding it keeps the other
changes of chain lists waiting until ``until``, a few seconds. Changes that only clear
lists, and every other job change, do not take it: they cannot make a cycle. A delete takes
it to remove the job from the lists (after the job is gone), so that a create or change
that found the job still there has written its list by then; if the lease cannot be had it
removes the job anyway.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from scheduler_service.clock import Clock
from scheduler_service.errors import Conflict

LOCK_ID = "chains"
LISTS = ("onSuccess", "onFailure")
POLL_S = 0.02


class ChainLock:
    def __init__(self, database: Database, clock: Clock, *, lease: timedelta, wait_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self._database = database  # read when first used (the bench's stand-in has none)
        self.clock = clock
        self.lease = lease  # longer than any request's database work (DB_TIMEOUT)
        self.wait_s = wait_s
        self.sleep = sleep

    @classmethod
    def for_requests(cls, database: Database, clock: Clock, db_timeout_ms: int) -> ChainLock:
        """Chain list changes one at a time (check, then write), across processes: a held
        lease outlives any request's database work, and a wait shorter than it is a 409."""
        return cls(database, clock, lease=timedelta(milliseconds=2 * db_timeout_ms + 1000),
                   wait_s=min(2.0, db_timeout_ms / 2000))  # fmt: skip

    @property
    def collection(self) -> Collection:
        return self._database["locks"]

    def for_lists(self, lists: dict[str, Any]) -> AbstractContextManager[Any]:
        """Held for a create or change that names jobs in ``onSuccess``/``onFailure`` (it
        could close a cycle, or name a job being deleted); nothing for any other."""
        return self.held() if any(lists.get(name) for name in LISTS) else nullcontext()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lease for the block; ``Conflict`` (409) after ``wait_s`` without it."""
        owner = uuid.uuid4().hex
        give_up = time.monotonic() + self.wait_s
        while not self._take(owner):
            if time.monotonic() >= give_up:
                raise Conflict("Another change of onSuccess/onFailure is being made; try again",
                               {"retry": True})  # fmt: skip
            self.sleep(POLL_S)
        try:
            yield
        finally:
            self.collection.delete_one({"_id": LOCK_ID, "owner": owner})

    def _take(self, owner: str) -> bool:
        now = self.clock.now()
        try:
            self.collection.update_one({"_id": LOCK_ID, "until": {"$lte": now}},
                                       {"$set": {"owner": owner, "until": now + self.lease}},
                                       upsert=True)  # fmt: skip
        except DuplicateKeyError:
            return False  # held, and its lease has not run out
        return True
