"""A job's ticks (``scheduling.py``) and their planning at claim time (``planning.plan_job``):
one-offs, windows and jitter, with fixed instants for "now"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from scheduler_service.records import Job, MissedRunPolicy
from scheduler_service.scheduler.planning import plan_job
from scheduler_service.scheduling import first_tick, jitter, next_tick, start_of

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(milliseconds=600)
HOUR_MS = 3_600_000
JOB = Job(ObjectId("65a1b2c3d4e5f6a7b8c9d0e1"), "0 0 * * * *", "http://127.0.0.1/x")


def test_jitter_is_a_function_of_job_and_tick_within_bounds() -> None:
    tick = T0
    first = jitter(JOB.id, tick, HOUR_MS)
    assert jitter(JOB.id, tick, HOUR_MS) == first  # the same, every time and process
    assert timedelta(0) <= first <= timedelta(hours=1)
    assert jitter(JOB.id, tick, 0) == timedelta(0)
    offsets = {jitter(JOB.id, tick + timedelta(hours=n), HOUR_MS) for n in range(50)}
    assert len(offsets) > 45  # each tick its own delay
    assert all(delay.microseconds % 1000 == 0 for delay in offsets)  # whole ms
    assert jitter(JOB.id, tick, 1) in (timedelta(0), timedelta(milliseconds=1))


def test_a_thousand_jobs_on_one_tick_spread_over_the_window() -> None:
    delays = sorted(jitter(ObjectId(), T0, HOUR_MS) for _ in range(1000))
    assert delays[-1] - delays[0] > timedelta(minutes=55)
    per_minute = [0] * 60
    for delay in delays:
        per_minute[min(59, int(delay.total_seconds() // 60))] += 1
    assert max(per_minute) < 40  # about 17 a minute, not 1,000 in one second


def test_first_and_next_tick_keep_to_the_window() -> None:
    job = replace(JOB, start_at=T0 + timedelta(hours=5, minutes=30),
                  end_at=T0 + timedelta(hours=8))  # fmt: skip
    assert first_tick(job, T0) == T0 + timedelta(hours=6)
    assert first_tick(replace(job, start_at=T0 + timedelta(hours=6)), T0) == T0 + timedelta(hours=6)
    assert next_tick(job, T0 + timedelta(hours=7)) == T0 + timedelta(hours=8)  # endAt inclusive
    assert next_tick(job, T0 + timedelta(hours=8)) is None
    assert first_tick(JOB, T0) == T0 + timedelta(hours=1)


def test_a_schedule_in_a_zone() -> None:
    job = replace(JOB, schedule="0 0 9 * * *", timezone="America/New_York")
    assert first_tick(job, T0) == datetime(2026, 3, 1, 14, tzinfo=UTC)  # 09:00 EST
    assert next_tick(job, datetime(2026, 3, 8, 15, tzinfo=UTC)) == datetime(2026, 3, 9, 13,
                                                                            tzinfo=UTC)  # fmt: skip


def test_a_one_off_has_one_tick() -> None:
    one_off = replace(JOB, schedule=None, run_at=T0 + timedelta(minutes=5))
    assert first_tick(one_off, T0) == T0 + timedelta(minutes=5)
    assert next_tick(one_off, T0) is None


def queued(job: Job, tick: datetime) -> Job:
    return replace(job, next_run_at=start_of(job, tick), next_tick_at=tick)


def test_plan_a_one_off() -> None:
    tick = T0 + timedelta(minutes=5)
    one_off = queued(replace(JOB, schedule=None, run_at=tick), tick)
    on_time = plan_job(one_off, tick + timedelta(milliseconds=10), GRACE)
    assert (on_time.run, on_time.following) == (tick, None)
    late = plan_job(one_off, tick + timedelta(hours=1), GRACE)
    assert (late.run, late.following) == (tick, None)  # run late (COALESCE)
    skipped = plan_job(replace(one_off, missed_run_policy=MissedRunPolicy.SKIP),
                       tick + timedelta(hours=1), GRACE)  # fmt: skip
    assert (skipped.run, skipped.following, skipped.skipped) == (None, None, 1)


def test_plan_the_last_tick_of_a_window() -> None:
    job = replace(JOB, end_at=T0 + timedelta(hours=1, minutes=30))
    last = plan_job(queued(job, T0 + timedelta(hours=1)), T0 + timedelta(hours=1), GRACE)
    assert (last.run, last.following) == (T0 + timedelta(hours=1), None)
    before = plan_job(queued(job, T0), T0, GRACE)
    assert before.following == T0 + timedelta(hours=1)
    # Down for a day past endAt: the latest tick inside the window runs, then nothing.
    missed = plan_job(queued(job, T0), T0 + timedelta(days=1), GRACE)
    assert (missed.run, missed.following) == (T0 + timedelta(hours=1), None)


def test_plan_a_jittered_tick_counts_lateness_from_its_start() -> None:
    job = replace(JOB, jitter_ms=HOUR_MS)
    tick = T0
    start = start_of(job, tick)
    assert start is not None and start > tick + GRACE  # this job's delay is over 600 ms
    plan = plan_job(queued(job, tick), start + timedelta(milliseconds=100), GRACE)
    assert (plan.run, plan.following, plan.skipped) == (tick, tick + timedelta(hours=1), 0)
    # The next tick is stored as its start: a different delay.
    following = plan.following
    assert following is not None and start_of(job, following) != following + (start - tick)


def test_a_next_tick_that_does_not_fit_next_run_at_is_ignored() -> None:
    job = replace(JOB, jitter_ms=1000, next_run_at=T0 + timedelta(milliseconds=400),
                  next_tick_at=T0)  # fmt: skip
    assert job.next_tick == T0
    # nextRunAt set by hand (an operator, an older version): the tick is nextRunAt.
    assert replace(job, next_run_at=T0 + timedelta(hours=1)).next_tick == T0 + timedelta(hours=1)
    assert replace(job, next_tick_at=None).next_tick == job.next_run_at
    assert replace(job, jitter_ms=0).next_tick == job.next_run_at


SECOND = timedelta(seconds=1)
EVERY_SECOND = replace(JOB, schedule="* * * * * *", jitter_ms=700)


def _quick_then_slow() -> datetime:
    """A tick of ``EVERY_SECOND`` with a short delay whose next tick has a long one."""
    for n in range(600):
        tick = T0 + n * SECOND
        if jitter(JOB.id, tick, 700) < timedelta(milliseconds=100) < timedelta(
                milliseconds=500) < jitter(JOB.id, tick + SECOND, 700):  # fmt: skip
            return tick
    raise AssertionError("no such tick in ten minutes")


def test_a_catch_up_never_runs_a_tick_before_its_start() -> None:
    tick = _quick_then_slow()  # say 12:00:44.068, then 12:00:45.622
    following = tick + SECOND
    slow = start_of(EVERY_SECOND, following)
    assert slow is not None
    # Missed (over 600 ms past its start), and the next tick's time has passed, not its start:
    # the catch-up runs the missed tick, not the next one (which started 420 ms early once).
    now = following + timedelta(milliseconds=200)
    plan = plan_job(queued(EVERY_SECOND, tick), now, GRACE)
    assert (plan.run, plan.following, plan.skipped) == (tick, following, 0)
    skipped = plan_job(queued(replace(EVERY_SECOND, missed_run_policy=MissedRunPolicy.SKIP),
                              tick), now, GRACE)  # fmt: skip
    assert (skipped.run, skipped.following, skipped.skipped) == (None, following, 1)
    # Once the next tick has started, it is the one the catch-up runs.
    plan = plan_job(queued(EVERY_SECOND, tick), slow, GRACE)
    assert (plan.run, plan.following) == (following, following + SECOND)


@pytest.mark.parametrize("policy", list(MissedRunPolicy))
def test_a_plan_runs_only_a_started_tick_and_passes_over_none_still_to_start(
    policy: MissedRunPolicy,
) -> None:
    job = replace(EVERY_SECOND, missed_run_policy=policy)  # delays under a second: in order
    for n in range(40):
        due = T0 + n * SECOND
        due_starts = start_of(job, due)
        assert due_starts is not None
        for late_ms in range(0, 4000, 70):
            now = due_starts + timedelta(milliseconds=late_ms)
            plan = plan_job(queued(job, due), now, GRACE)
            runs, follows = start_of(job, plan.run), start_of(job, plan.following)
            assert runs is None or runs <= now, (due, late_ms, plan)
            assert follows is not None and plan.following > (plan.run or due - SECOND)
            if now - due_starts > GRACE and policy is not MissedRunPolicy.RUN_ALL:  # missed
                assert follows > now, (due, late_ms, plan)  # the first tick still to start
