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
from scheduler_service.records import MissedRunPolicy

RUN_ALL_WINDOW = timedelta(hours=1)
MAX_COUNTED = 10_000
_EPSILON = timedelta(milliseconds=1)


@dataclass(frozen=True)
class TickPlan:
    run: datetime | None  # the tick to run now (its scheduledAt), or None to run nothing
    following: datetime  # the job's new nextRunAt
    skipped: int = 0  # ticks passed over without running


def plan_tick(
    schedule: str, due: datetime, now: datetime, policy: MissedRunPolicy | str,
    misfire_grace: timedelta,
) -> TickPlan:
    """Plan the job's tick ``due`` (its stored ``nextRunAt``) as seen at ``now``."""
    if now - due <= misfire_grace:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due))
    if policy == MissedRunPolicy.RUN_ALL:
        return _plan_run_all(schedule, due, now)
    following = cron.next_fire_time(schedule, now)
    missed = len(cron.fire_times(schedule, due - _EPSILON, now, MAX_COUNTED))
    if policy == MissedRunPolicy.SKIP:
        return TickPlan(run=None, following=following, skipped=missed)
    latest = cron.latest_fire_time(schedule, due - _EPSILON, now) or due
    return TickPlan(run=latest, following=following, skipped=0)


def _plan_run_all(schedule: str, due: datetime, now: datetime) -> TickPlan:
    window_start = now - RUN_ALL_WINDOW
    if due >= window_start:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due))
    too_old = len(cron.fire_times(schedule, due - _EPSILON, window_start, MAX_COUNTED))
    first = cron.next_fire_time(schedule, window_start)
    if first > now:  # nothing inside the window: behave like SKIP
        return TickPlan(run=None, following=first, skipped=too_old)
    return TickPlan(run=first, following=cron.next_fire_time(schedule, first), skipped=too_old)
