"""A job's ticks: its schedule in its zone (or its one ``runAt``), inside its ``startAt`` /
``endAt`` window, each started after its jitter. Pure functions of the job and a time.

- A tick is the *scheduled* time (``scheduledAt``, ``X-Scheduler-Scheduled-At``, the
  ``Idempotency-Key``): jitter never changes it.
- A tick *starts* at ``tick + jitter(job, tick)``: between 0 and ``jitterMs`` ms, from a
  hash of the job's id and the tick, so every process starts it at the same instant and
  1,000 jobs on ``0 0 * * * *`` spread over the jitter window. The job's stored
  ``nextRunAt`` is that start (what the poller and the claim's compare-and-set use), and
  ``nextTickAt`` the tick it starts.
- No tick before ``startAt`` or after ``endAt``; a job with no tick left (a one-off that
  ran, a window that ended) is disabled with ``nextRunAt`` null by the claim of its last
  tick.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from bson import ObjectId

from scheduler_service import cron
from scheduler_service.records import Job

_MS = timedelta(milliseconds=1)


def jitter(job_id: ObjectId | None, tick: datetime, jitter_ms: int) -> timedelta:
    """The delay of ``tick`` of the job: 0 to ``jitter_ms`` ms inclusive, the same on every
    process (blake2b of the job id and the tick's epoch milliseconds)."""
    if jitter_ms <= 0 or job_id is None:
        return timedelta(0)
    millis = int(tick.timestamp() * 1000)
    digest = hashlib.blake2b(job_id.binary + millis.to_bytes(8, "big", signed=True),
                             digest_size=8).digest()  # fmt: skip
    return timedelta(milliseconds=int.from_bytes(digest, "big") % (jitter_ms + 1))


def start_of(job: Job, tick: datetime | None) -> datetime | None:
    """When ``tick`` starts: the tick plus its jitter."""
    return None if tick is None else tick + jitter(job.id, tick, job.jitter_ms)


def first_tick(job: Job, now: datetime) -> datetime | None:
    """The job's first tick after ``now`` inside its window (a one-off: its ``run_at``,
    which the caller has checked is not in the past); None if there is none."""
    if job.schedule is None:
        return job.run_at
    after = now if job.start_at is None else max(now, job.start_at - _MS)
    return next_tick(job, after)


def next_tick(job: Job, after: datetime) -> datetime | None:
    """The job's first tick strictly after ``after``, or None past ``end_at`` (or for a
    one-off, whose only tick is ``run_at``)."""
    if job.schedule is None:
        return None
    tick = cron.next_fire_time(job.schedule, after, job.timezone)
    if job.end_at is not None and tick > job.end_at:
        return None
    return tick


def next_fields(job: Job, tick: datetime | None) -> dict[str, datetime | None]:
    """The stored fields that name the job's next tick: ``nextRunAt`` (its start) and
    ``nextTickAt`` (the tick)."""
    return {"nextRunAt": start_of(job, tick), "nextTickAt": tick}
