"""Settled ticks released with the job's next claim: one write for both, not two.

When this process claims a job's tick and queues the job's next one (a *follow-up*, due
within the look-ahead), it *expects* to claim that next tick itself soon. If the attempt
then settles for good (a success, or a failure dead-lettered) before that claim, its entry
is not pulled at once: it stays in the job's ``inflight`` array, still ``running``, owned
here, under the lease of its claim, and the next claim replaces it (``TickStore.claim_ticks``
with ``replaces``), so one document write both releases the settled tick and claims the
next. An entry whose fold does not come (the claim was lost, the job changed, the tick is
later than expected) is released in a batch once its hold ends, two poll intervals
after the claim was due, or twice as late as this process claims now if that is longer
(``note_lateness``), by ``run`` (a thread of its own), and every one left at
``Scheduler.stop``. A take-over of the job's tick meanwhile (half an interval overdue,
``affinity.py``) whose ``FORBID`` claim our held entry refuses reads its record and
replaces it (``claimer.py``).

Only a success is held. Nothing is lost by holding its release: the attempt's execution
record is written first, so if this process dies holding one, the process taking the
job's next tick over finds the record and its claim replaces the entry (``claimer.py``: a
``FORBID`` job's tick is not skipped for it), and an entry whose lease runs out is only
released, as after a crash between the record and the release. A hold ends well within
the lease (at most ``lease / 4`` after the attempt ended, which itself renewed its lease
every third of one), so a live process's held entry is never taken over as an orphan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.errors import PyMongoError

from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

MAX_WAIT_S = 1.0  # the thread looks again at least this often (and once stopping)


@dataclass(frozen=True)
class _Held:
    entry_ids: tuple[ObjectId, ...]  # a tick and those claimed with it (``pre_claims.py``)
    until: datetime  # expected: fold by then; settled: release by then


class Releases:
    def __init__(self, ticks: TickStore, owner: str, lease: timedelta,
                 hold: timedelta) -> None:  # fmt: skip
        self._ticks = ticks
        self._owner = owner
        self._hold = hold  # after its expected claim, how long a settled entry waits for it
        self._cap = lease / 4  # never held longer than this after the attempt ended
        self._late = timedelta(0)  # how late this process claimed lately (``note_lateness``)
        self._late_at = datetime.min.replace(tzinfo=UTC)
        self._expected: dict[ObjectId, _Held] = {}  # job id -> entry whose fold is expected
        self._settled: dict[ObjectId, _Held] = {}  # job id -> settled entry, not released
        self._lock = threading.Condition()
        self._closed = False

    def expect(self, job_id: ObjectId, entry_ids: tuple[ObjectId, ...],
               next_claim: datetime) -> None:  # fmt: skip
        """This process claimed ``entry_ids`` (a tick, and those claimed with it) and will
        claim the job's next tick at about ``next_claim``: their releases may wait for it."""
        with self._lock:
            hold = max(self._hold, 2 * self._late)
            self._expected[job_id] = _Held(entry_ids, next_claim + hold)

    def note_lateness(self, late: timedelta, now: datetime) -> None:
        """The follow-ups this process claims at ``now`` are ``late`` past their time (at
        most; negative: claimed ahead). A process that is behind claims each job's next
        tick that much after it is due, or later (its missed ticks coalesced), so the holds
        of the settled ticks waiting for those claims stretch to twice how late it claims
        (capped as any hold); else they ended before the claims came (500 every-second jobs
        on one process: 2.9 documents per execution, not 2). That figure rises with the
        latest claims at once (to the cap at most) and halves every hold while they are
        less late."""
        with self._lock:
            halves = max((now - self._late_at) / self._hold, 0.0)
            self._late = max(min(late, self._cap), self._late * 0.5**halves, timedelta(0))
            self._late_at = now

    def defer(self, job_id: ObjectId, entry_id: ObjectId, now: datetime) -> bool:
        """The attempt of ``entry_id`` settled for good: hold its release for the job's next
        claim if one is expected (True: the caller writes nothing now)."""
        with self._lock:
            expected = self._expected.get(job_id)
            if self._closed or expected is None or entry_id not in expected.entry_ids:
                return False
            held = self._settled.get(job_id)
            until = min(expected.until, now + self._cap)
            ids = (entry_id,) if held is None else (*held.entry_ids, entry_id)
            self._settled[job_id] = _Held(ids, until if held is None else min(held.until, until))
            if set(expected.entry_ids) <= set(ids):  # all settled: nothing more expected
                del self._expected[job_id]
            self._lock.notify()
            return True

    def take(self, job_id: ObjectId, seen: tuple[ObjectId, ...]) -> tuple[ObjectId, ...]:
        """The settled entries that the job's claim now replaces, if the job (as the claim
        will check it) holds exactly those (empty if not); the claimer gives them ``back``
        if the claim is lost. Any claim of the job ends the expectation of a fold."""
        with self._lock:
            self._expected.pop(job_id, None)
            held = self._settled.get(job_id)
            if held is None or set(seen) != set(held.entry_ids) or len(seen) != len(held.entry_ids):
                return ()
            del self._settled[job_id]
            return seen

    def holds(self, job_id: ObjectId, entry_id: ObjectId) -> bool:
        """Is ``entry_id`` a settled entry of the job whose release is held here?"""
        with self._lock:
            held = self._settled.get(job_id)
            return held is not None and entry_id in held.entry_ids

    def back(self, job_id: ObjectId, entry_ids: tuple[ObjectId, ...], now: datetime) -> None:
        """A claim that was to replace ``entry_ids`` lost (or its outcome is unknown): release
        them with the next flush (a no-op if the claim did land)."""
        with self._lock:
            self._settled.setdefault(job_id, _Held(entry_ids, now))
            self._lock.notify()

    def run(self, now: Callable[[], datetime], stopping: threading.Event) -> None:
        """The thread's loop: release each held entry when its hold ends, until stopping."""
        while not stopping.is_set():
            self.flush(now())
            with self._lock:
                ends = [held.until for held in self._settled.values()]
                ends += [held.until for held in self._expected.values()]
                wait = (min(ends) - now()).total_seconds() if ends else MAX_WAIT_S
                self._lock.wait(min(max(wait, 0.005), MAX_WAIT_S))

    def wake(self) -> None:
        """Have ``run`` look again now (the process is stopping)."""
        with self._lock:
            self._lock.notify_all()

    def close(self) -> int:
        """Hold nothing more (the process is stopping) and release every held entry."""
        with self._lock:
            self._closed = True
        return self.flush()

    def held(self) -> int:
        with self._lock:
            return len(self._settled)

    def flush(self, now: datetime | None = None) -> int:
        """Release, in one write per entry id, the settled entries whose hold ended by
        ``now`` (every one if None); those the database did not take are kept for the next
        flush. Returns how many were released."""
        with self._lock:
            due = [(job_id, held) for job_id, held in self._settled.items()
                   if now is None or held.until <= now]  # fmt: skip
            for job_id, _ in due:
                del self._settled[job_id]
            expired = [job_id for job_id, held in self._expected.items()
                       if now is None or held.until <= now]  # fmt: skip
            for job_id in expired:
                del self._expected[job_id]
        if not due:
            return 0
        try:
            self._ticks.drop_entries([(job_id, entry_id) for job_id, held in due
                                      for entry_id in held.entry_ids], self._owner)  # fmt: skip
        except PyMongoError as exc:
            log.warning("could not release %d settled ticks (retried): %s", len(due), exc)
            with self._lock:
                for job_id, held in due:
                    self._settled.setdefault(job_id, held)
            return 0
        return sum(len(held.entry_ids) for _, held in due)
