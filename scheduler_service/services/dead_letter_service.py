"""Dead-letter rules shared by the API and the CLI: list, show, delete, replay.

A replay is one new delivery of the same tick: a waiting entry in the job's ``inflight``
(``Entry.replay``), claimed and run by the scheduler like a manual run, with the same
``scheduledAt`` (hence the same ``Idempotency-Key`` and ``X-Scheduler-Scheduled-At``),
attempt numbers continuing after the dead letter's, and the job's current definition and
retry policy. Starting one is two writes: the dead letters' state (``replaying``, a
compare-and-set, so two requests cannot both start one) and then the entries, one write per
job. Should the second find the job gone, the first is undone and the answer is 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from scheduler_service.clock import Clock
from scheduler_service.dead_letter import DeadLetter, DeadLetterState
from scheduler_service.errors import Conflict, DeadLetterNotFound, JobNotFound
from scheduler_service.records import Entry
from scheduler_service.stores.dead_letters import DeadLetterStore
from scheduler_service.stores.jobs import JobStore

# A replaying dead letter whose job holds no replay entry for it this long after the replay
# started lost its replay (the job was disabled, cancelling the queued run; or the process
# that started it died between its two writes): it may be replayed again.
LOST_REPLAY_AFTER = timedelta(seconds=10)


def parse_object_id(value: str, not_found: Callable[[str], Exception]) -> ObjectId:
    """A 24-hex-digit ObjectId; anything else is something that does not exist (404)."""
    if not isinstance(value, str) or len(value) != 24:
        raise not_found(str(value))
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise not_found(value) from None


@dataclass(frozen=True)
class BulkReplay:
    queued: int
    skipped: int  # not replayable now (replaying or replayed), or their job was deleted


class DeadLetterService:
    def __init__(
        self, dead_letters: DeadLetterStore, jobs: JobStore, clock: Clock, *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.dead_letters = dead_letters
        self.jobs = jobs
        self.clock = clock
        self.on_change = on_change  # wakes this process's scheduler: the replay is due now

    def get(self, dead_letter_id: str) -> DeadLetter:
        found = self.dead_letters.get(parse_object_id(dead_letter_id, DeadLetterNotFound))
        if found is None:
            raise DeadLetterNotFound(dead_letter_id)
        return found

    def page(
        self, page: int, limit: int, *, job_id: str | None = None,
        state: str | None = None,
    ) -> tuple[list[DeadLetter], int]:  # fmt: skip
        """``job_id`` and ``state`` come validated (the query schema)."""
        return self.dead_letters.page(
            page, limit, job_id=None if job_id is None else ObjectId(job_id),
            state=None if state is None else DeadLetterState(state),
        )  # fmt: skip

    def delete(self, dead_letter_id: str) -> None:
        """404 if unknown; 409 while a replay is in flight (its outcome is written to the
        dead letter). A ``replaying`` one whose replay was lost, or whose job was deleted,
        may be deleted."""
        dead_letter = self.get(dead_letter_id)
        busy = Conflict(f"Dead letter {dead_letter_id} is being replayed: it can be deleted "
                        "once the replay ends")  # fmt: skip
        if dead_letter.state is DeadLetterState.REPLAYING:
            in_flight = self.jobs.in_flight([dead_letter.job_id]).get(dead_letter.job_id)
            if in_flight is not None and not self._replay_lost(
                    dead_letter, in_flight, self.clock.now()):  # fmt: skip
                raise busy
        if not self.dead_letters.delete(dead_letter):  # changed since read
            if self.dead_letters.get(dead_letter.id) is None:
                raise DeadLetterNotFound(dead_letter_id)
            raise busy

    def replay(self, dead_letter_id: str) -> DeadLetter:
        """Queue one replay; 409 if its job was deleted or it is not replayable now."""
        dead_letter = self.get(dead_letter_id)
        now = self.clock.now()
        in_flight = self.jobs.in_flight([dead_letter.job_id]).get(dead_letter.job_id)
        deleted = Conflict(f"Dead letter {dead_letter_id} cannot be replayed: its job "
                           f"{dead_letter.job_id} was deleted")  # fmt: skip
        busy = Conflict(f"Dead letter {dead_letter_id} is already being replayed")
        if in_flight is None:
            raise deleted
        if dead_letter.state is DeadLetterState.REPLAYED:
            raise Conflict(f"Dead letter {dead_letter_id} was already replayed successfully")
        if dead_letter.state is DeadLetterState.REPLAYING:
            if not self._replay_lost(dead_letter, in_flight, now):
                raise busy
            if not self.dead_letters.take_over_replay(dead_letter, now):
                raise busy
            queued = self._queue_entries(dead_letter.job_id, [dead_letter], now)
        else:
            queued = self._queue([dead_letter], now)
        if not queued:
            raise deleted if not self.jobs.in_flight([dead_letter.job_id]) else busy
        self.on_change()
        return self.get(dead_letter_id)

    def replay_many(self, *, job_id: str | None = None, ids: list[str] | None = None) -> BulkReplay:
        """Queue a replay of each replayable dead letter of ``job_id``, or among ``ids`` (at
        most 1,000, validated by the schema). Unknown ids and dead letters that cannot be
        replayed now are skipped and counted. A ``job_id`` that is no job: 409 if it was
        deleted (it left dead letters), 404 if nothing is known of it."""
        if job_id is not None:
            oid = ObjectId(job_id)
            if not self.jobs.in_flight([oid]):
                if not self.dead_letters.any_of_job(oid):
                    raise JobNotFound(job_id)
                raise Conflict(f"Job {job_id} was deleted: its dead letters cannot be "
                               "replayed")  # fmt: skip
            candidates = self.dead_letters.replayable(job_id=oid)
            requested = len(candidates)
        else:
            assert ids is not None
            unique = list(dict.fromkeys(ObjectId(value) for value in ids))
            candidates = self.dead_letters.replayable(ids=unique)
            requested = len(unique)
        queued = self._queue(candidates, self.clock.now()) if candidates else 0
        if queued:
            self.on_change()
        return BulkReplay(queued=queued, skipped=requested - queued)

    def counts(self) -> dict[str, int]:
        return self.dead_letters.counts()

    # -- internals --------------------------------------------------------------------------

    def _replay_lost(self, dead_letter: DeadLetter, in_flight: tuple[Entry, ...],
                     now: datetime) -> bool:  # fmt: skip
        held = any(entry.replay_of == dead_letter.id for entry in in_flight)
        return not held and now - dead_letter.updated_at >= LOST_REPLAY_AFTER

    def _queue(self, candidates: list[DeadLetter], now: datetime) -> int:
        """Start the replays of ``candidates`` (replayable when read); returns how many were
        queued. Dead letters of deleted jobs are left as they are."""
        jobs = self.jobs.in_flight(list({dl.job_id for dl in candidates}))
        alive = [dl for dl in candidates if dl.job_id in jobs]
        if not alive:
            return 0
        won = set(self.dead_letters.start_replays([dl.id for dl in alive], now))
        by_job: dict[ObjectId, list[DeadLetter]] = {}
        for dl in alive:
            if dl.id in won:
                by_job.setdefault(dl.job_id, []).append(dl)
        return sum(self._queue_entries(job_id, group, now) for job_id, group in by_job.items())

    def _queue_entries(self, job_id: ObjectId, group: list[DeadLetter], now: datetime) -> int:
        entries = [Entry.replay(dl.id, dl.scheduled_at, dl.attempts, now, dl.trigger)
                   for dl in group]  # fmt: skip
        if self.jobs.add_waiting_entries(job_id, entries):
            return len(group)
        # The job was deleted since it was read: put the dead letters back as they were.
        self.dead_letters.undo_replays([dl.id for dl in group], {dl.id: dl for dl in group})
        return 0
