"""Which tick to run when a job's ``nextRunAt`` is reached: pure functions of the schedule and now.

A tick is *on time* while it is at most ``misfire_grace`` old; it then runs as scheduled.
Older ticks were *missed* (the service or its database was down, or it fell behind), and
the job's ``missedRunPolicy`` decides:

- ``COALESCE`` (default): one run, carrying the latest missed tick's time.
- ``RUN_ALL``: every missed tick runs, oldest first, back to ``RUN_ALL_WINDOW``; older
  ones are skipped.
- ``SKIP``: none of them runs; the job waits for its next future tick.

Skipped ticks are counted (at most ``MAX_COUNTED`` per catch-up) in the job's
``skippedTicks``, which the stats endpoint sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler_service import cron
from scheduler_service.records import Job, MissedRunPolicy

RUN_ALL_WINDOW = timedelta(hours=1)
MAX_COUNTED = 10_000
_EPSILON = timedelta(milliseconds=1)


@dataclass(frozen=True)
class TickPlan:
    run: datetime | None  # the tick to run now (its scheduledAt), or None to run nothing
    following: datetime | None  # the job's next tick; None: it has none (disabled)
    skipped: int = 0  # ticks passed over without running


def plan_job(job: Job, now: datetime, misfire_grace: timedelta) -> TickPlan:
    """Plan the job's next tick (``job.next_tick``) as seen at ``now``. Lateness is counted
    from when the tick starts (its jitter after the tick)."""
    due = job.next_tick
    assert due is not None and job.next_run_at is not None  # queued only with a next tick
    now = now - (job.next_run_at - due)
    if job.schedule is None:
        return plan_one_off(due, now, job.missed_run_policy, misfire_grace)
    return plan_tick(job.schedule, due, now, job.missed_run_policy, misfire_grace,
                     tz=job.timezone, end_at=job.end_at)  # fmt: skip


def plan_tick(
    schedule: str, due: datetime, now: datetime, policy: MissedRunPolicy | str,
    misfire_grace: timedelta, *, tz: str = "UTC", end_at: datetime | None = None,
) -> TickPlan:
    """Plan the job's tick ``due`` (its stored ``nextRunAt``) as seen at ``now``, with the
    schedule read in zone ``tz`` and no tick after ``end_at``."""
    plan = _plan(schedule, due, now, policy, misfire_grace, tz, end_at)
    if end_at is not None and plan.following is not None and plan.following > end_at:
        return TickPlan(run=plan.run, following=None, skipped=plan.skipped)
    return plan


def plan_one_off(due: datetime, now: datetime, policy: MissedRunPolicy | str,
                 misfire_grace: timedelta) -> TickPlan:  # fmt: skip
    """A one-off's only tick: run, late or not, unless missed under ``SKIP``."""
    if now - due > misfire_grace and policy == MissedRunPolicy.SKIP:
        return TickPlan(run=None, following=None, skipped=1)
    return TickPlan(run=due, following=None)


def _plan(schedule: str, due: datetime, now: datetime, policy: MissedRunPolicy | str,
          misfire_grace: timedelta, tz: str, end_at: datetime | None) -> TickPlan:  # fmt: skip
    if now - due <= misfire_grace:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due, tz))
    # Missed ticks are looked for up to now, and never past the window's end.
    until = now if end_at is None else max(min(now, end_at), due)
    if policy == MissedRunPolicy.RUN_ALL:
        return _plan_run_all(schedule, due, until, tz)
    following = cron.next_fire_time(schedule, now, tz)
    missed = len(cron.fire_times(schedule, due - _EPSILON, until, MAX_COUNTED, tz))
    if policy == MissedRunPolicy.SKIP:
        return TickPlan(run=None, following=following, skipped=missed)
    latest = cron.latest_fire_time(schedule, due - _EPSILON, until, tz) or due
    return TickPlan(run=latest, following=following, skipped=0)


def _plan_run_all(schedule: str, due: datetime, now: datetime, tz: str) -> TickPlan:
    window_start = now - RUN_ALL_WINDOW
    if due >= window_start:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due, tz))
    too_old = len(cron.fire_times(schedule, due - _EPSILON, window_start, MAX_COUNTED, tz))
    first = cron.next_fire_time(schedule, window_start, tz)
    if first > now:  # nothing inside the window: behave like SKIP
        return TickPlan(run=None, following=first, skipped=too_old)
    return TickPlan(run=first, following=cron.next_fire_time(schedule, first, tz),
                    skipped=too_old)  # fmt: skip
