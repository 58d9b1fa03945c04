"""A tick in flight: ``Entry``, an element of its job's ``inflight`` array."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from scheduler_service.records.enums import EntryState
from scheduler_service.records.trigger import Trigger


@dataclass(frozen=True)
class Entry:
    """A tick in flight, an element of its job's ``inflight`` array.

    ``due_at`` is when a waiting entry (a retry or a manual run) falls due, and when a
    running entry's lease expires: so "due" covers both new work and the work of a process
    that died, and one multikey index (``inflight.dueAt``) finds both. Made only by the
    constructors below (and read back by ``from_document``).
    """

    id: ObjectId
    scheduled_at: datetime  # the tick's time: with the attempt number, its identity
    attempt: int
    state: EntryState
    due_at: datetime
    owner: str | None  # the process running it; None while waiting
    is_manual: bool = False
    started_at: datetime | None = None  # when its current attempt was claimed
    replay_of: ObjectId | None = None  # a replay: the dead letter it replays
    replay_base: int = 0  # attempts made before this run: the retry policy counts from here
    trigger: Trigger | None = None  # a chained run: the parent's tick that triggered it

    @classmethod
    def scheduled(cls, scheduled_at: datetime, *, owner: str, now: datetime,
                  lease: timedelta) -> Entry:  # fmt: skip
        """A scheduled tick, claimed by ``owner`` at ``now``: running from the start."""
        return cls(ObjectId(), scheduled_at, 1, EntryState.RUNNING, now + lease, owner,
                   started_at=now)  # fmt: skip

    @classmethod
    def manual(cls, now: datetime) -> Entry:
        """A run-now tick: waiting, due at once, for any process to claim."""
        return cls(ObjectId(), now, 1, EntryState.WAITING, now, None, is_manual=True)

    @classmethod
    def replay(cls, dead_letter_id: ObjectId, scheduled_at: datetime, attempts: int,
               now: datetime, trigger: Trigger | None = None) -> Entry:  # fmt: skip
        """A replay of a dead letter's tick (``attempts`` made so far): waiting, due at once,
        run like a manual run, its attempt numbers continuing after the last one; a chained
        run's with the same ``trigger``."""
        return cls(ObjectId(), scheduled_at, attempts + 1, EntryState.WAITING, now, None,
                   is_manual=True, replay_of=dead_letter_id, replay_base=attempts,
                   trigger=trigger)  # fmt: skip

    @classmethod
    def triggered(cls, trigger: Trigger, now: datetime) -> Entry:
        """A chained run (``scheduler/chaining.py``): waiting, due at once, run like a manual
        run (whatever the job's schedule and ``enabled`` say, with its retry policy)."""
        return cls(ObjectId(), now, 1, EntryState.WAITING, now, None, is_manual=True,
                   trigger=trigger)  # fmt: skip

    @classmethod
    def retry(cls, failed: Entry, due_at: datetime) -> Entry:
        """The next attempt of a failed one: waiting until its backoff ends."""
        return replace(failed, state=EntryState.WAITING, owner=None,
                       attempt=failed.attempt + 1, due_at=due_at)  # fmt: skip

    def taken(self, owner: str, now: datetime, lease: timedelta, *, next_attempt: bool) -> Entry:
        """This entry claimed by ``owner`` (a waiting one, or an orphan: ``next_attempt``
        for a re-delivery under the same tick and key)."""
        return replace(self, state=EntryState.RUNNING, owner=owner, due_at=now + lease,
                       started_at=now, attempt=self.attempt + int(next_attempt))  # fmt: skip

    @property
    def is_running(self) -> bool:
        return self.state is EntryState.RUNNING

    def to_document(self) -> dict[str, Any]:
        document = {
            "id": self.id, "scheduledAt": self.scheduled_at, "attempt": self.attempt,
            "state": self.state.value, "dueAt": self.due_at, "owner": self.owner,
            "manual": self.is_manual,
        }  # fmt: skip
        if self.started_at is not None:
            document["startedAt"] = self.started_at
        if self.replay_of is not None:
            document.update(replayOf=self.replay_of, replayBase=self.replay_base)
        if self.trigger is not None:
            document["trigger"] = self.trigger.to_document()
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Entry:
        return cls(
            id=document["id"], scheduled_at=document["scheduledAt"],
            attempt=int(document["attempt"]), state=EntryState(document["state"]),
            due_at=document["dueAt"], owner=document.get("owner"),
            is_manual=bool(document.get("manual")), started_at=document.get("startedAt"),
            replay_of=document.get("replayOf"), replay_base=int(document.get("replayBase", 0)),
            trigger=Trigger.from_document(document["trigger"]) if document.get("trigger")
            else None,
        )  # fmt: skip
