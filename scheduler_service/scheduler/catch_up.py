"""Ticks already due when this process started its late attempt of the job's previous tick.

Such a tick did not fall due while that attempt ran, so the overlap rule
(``concurrencyPolicy: FORBID``) does not skip it: it waits until the attempt ends and is
claimed then, as long as it is within the misfire grace. Claiming it at once would only be
refused (the attempt is still in flight) and lose the tick. Whether a tick must wait is
decided here from what this process claimed and runs, with no database involved.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bson import ObjectId

from scheduler_service.records import Job
from scheduler_service.scheduler.local_attempts import RunningAttempts

RECHECK = timedelta(milliseconds=25)  # how soon a waiting tick is looked at again


class CatchUp:
    def __init__(self, running: RunningAttempts, misfire_grace: timedelta) -> None:
        self._running = running
        self._grace = misfire_grace
        # (job id, entry id) of the ticks claimed here whose attempts have not ended: from
        # the claim on, before their attempts start (``running`` has them from then).
        self._claimed: set[tuple[ObjectId, ObjectId]] = set()
        self._lock = threading.Lock()

    def claimed(self, keys: list[tuple[ObjectId, ObjectId]]) -> None:
        with self._lock:
            self._claimed.update(keys)

    def ended(self, key: tuple[ObjectId, ObjectId]) -> None:
        with self._lock:
            self._claimed.discard(key)

    def must_wait(self, job: Job, now: datetime) -> bool:
        """Was the job's tick (``nextRunAt``) due before this process started its attempt of
        the previous one, which still runs, and is it within the misfire grace?"""
        due = job.next_run_at
        if due is None or job.id is None or now - due > self._grace:
            return False
        for entry in job.inflight:
            key = (job.id, entry.id)
            with self._lock:
                if key not in self._claimed:
                    continue
            started = self._running.started_at(*key) or now  # claimed, about to start
            if due <= started:
                return True
        return False
