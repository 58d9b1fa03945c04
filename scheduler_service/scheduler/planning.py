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

A jittered job's tick starts its own delay after its time (``scheduling.jitter``), so a
tick is missed only once its start has passed: a catch-up never runs, nor skips, a later
tick whose start is still to come (each tick has a delay of its own, so a later tick may
start after ``now`` while an earlier one is long overdue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler_service import cron
from scheduler_service.records import Job, MissedRunPolicy
from scheduler_service.scheduling import jitter

RUN_ALL_WINDOW = timedelta(hours=1)
MAX_COUNTED = 10_000
_EPSILON = timedelta(milliseconds=1)


@dataclass(frozen=True)
class TickPlan:
    run: datetime | None  # the tick to run now (its scheduledAt), or None to run nothing
    following: datetime | None  # the job's next tick; None: it has none (disabled)
    skipped: int = 0  # ticks passed over without running


Delay = Callable[[datetime], timedelta]  # a tick's jitter: it starts this long after its time


def _no_delay(tick: datetime) -> timedelta:
    return timedelta(0)


def plan_job(job: Job, now: datetime, misfire_grace: timedelta) -> TickPlan:
    """Plan the job's next tick (``job.next_tick``) as seen at ``now``. Lateness is counted
    from when the tick starts (its jitter after the tick), and so is every later tick's."""
    due = job.next_tick
    assert due is not None and job.next_run_at is not None  # queued only with a next tick
    stored = job.next_run_at - due  # the due tick's delay, as stored

    def delay(tick: datetime) -> timedelta:
        return stored if tick == due else jitter(job.id, tick, job.jitter_ms)

    if job.schedule is None:
        return plan_one_off(due, now - stored, job.missed_run_policy, misfire_grace)
    return plan_tick(job.schedule, due, now, job.missed_run_policy, misfire_grace,
                     tz=job.timezone, end_at=job.end_at, delay=delay)  # fmt: skip


def plan_tick(
    schedule: str, due: datetime, now: datetime, policy: MissedRunPolicy | str,
    misfire_grace: timedelta, *, tz: str = "UTC", end_at: datetime | None = None,
    delay: Delay = _no_delay,
) -> TickPlan:
    """Plan the job's tick ``due`` (its stored ``nextRunAt``) as seen at ``now``, with the
    schedule read in zone ``tz``, no tick after ``end_at``, and each tick starting ``delay``
    after its time."""
    plan = _plan(schedule, due, now, policy, misfire_grace, tz, end_at, delay)
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
          misfire_grace: timedelta, tz: str, end_at: datetime | None,
          delay: Delay) -> TickPlan:  # fmt: skip
    if now - (due + delay(due)) <= misfire_grace:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due, tz))
    # Missed ticks are looked for up to now, and never past the window's end.
    until = now if end_at is None else max(min(now, end_at), due)
    if policy == MissedRunPolicy.RUN_ALL:
        return _plan_run_all(schedule, due, until, now, tz, delay)
    latest = _latest_started(schedule, due, until, now, tz, delay)
    following = cron.next_fire_time(schedule, latest, tz)
    if policy == MissedRunPolicy.SKIP:
        missed = len(cron.fire_times(schedule, due - _EPSILON, latest, MAX_COUNTED, tz))
        return TickPlan(run=None, following=following, skipped=missed)
    return TickPlan(run=latest, following=following, skipped=0)


def _latest_started(schedule: str, due: datetime, until: datetime, now: datetime, tz: str,
                    delay: Delay) -> datetime:  # fmt: skip
    """The latest tick from ``due`` (missed: it has started) to ``until`` that has started by
    ``now``. Stepping back is needed only while a tick's delay still runs, so at most over
    the ticks of the jitter's width."""
    tick = cron.latest_fire_time(schedule, due - _EPSILON, until, tz) or due
    while tick > due and tick + delay(tick) > now:
        tick = cron.latest_fire_time(schedule, due - _EPSILON, tick - _EPSILON, tz) or due
    return tick


def _plan_run_all(schedule: str, due: datetime, until: datetime, now: datetime, tz: str,
                  delay: Delay) -> TickPlan:  # fmt: skip
    window_start = until - RUN_ALL_WINDOW
    if due >= window_start:
        return TickPlan(run=due, following=cron.next_fire_time(schedule, due, tz))
    too_old = len(cron.fire_times(schedule, due - _EPSILON, window_start, MAX_COUNTED, tz))
    first = cron.next_fire_time(schedule, window_start, tz)
    if first > until or first + delay(first) > now:  # none in the window started: like SKIP
        return TickPlan(run=None, following=first, skipped=too_old)
    return TickPlan(run=first, following=cron.next_fire_time(schedule, first, tz),
                    skipped=too_old)  # fmt: skip
