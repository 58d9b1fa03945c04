from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler_service.scheduler.planning import RUN_ALL_WINDOW, plan_tick

GRACE = timedelta(seconds=2)
T0 = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("policy", ["COALESCE", "RUN_ALL", "SKIP"])
def test_on_time_tick_runs_as_scheduled_whatever_the_policy(policy: str) -> None:
    plan = plan_tick("*/10 * * * * *", T0, at(0.01), policy, GRACE)
    assert plan.run == T0
    assert plan.following == at(10)
    assert plan.skipped == 0


def test_slightly_late_tick_still_runs_at_its_own_time() -> None:
    plan = plan_tick("* * * * * *", T0, at(1.5), "COALESCE", GRACE)
    assert plan.run == T0
    assert plan.following == at(1)


def test_coalesce_runs_the_latest_missed_tick_once() -> None:
    plan = plan_tick("*/10 * * * * *", T0, at(65), "COALESCE", GRACE)
    assert plan.run == at(60)
    assert plan.following == at(70)
    assert plan.skipped == 0


def test_coalesce_after_a_year_of_downtime_is_cheap() -> None:
    plan = plan_tick("* * * * * *", T0, T0 + timedelta(days=365, seconds=0.5), "COALESCE", GRACE)
    assert plan.run == T0 + timedelta(days=365)
    assert plan.following == T0 + timedelta(days=365, seconds=1)


def test_skip_runs_nothing_and_counts_the_missed_ticks() -> None:
    plan = plan_tick("*/10 * * * * *", T0, at(65), "SKIP", GRACE)
    assert plan.run is None
    assert plan.following == at(70)
    assert plan.skipped == 7  # 0, 10, ..., 60


def test_run_all_runs_the_oldest_missed_tick_first() -> None:
    plan = plan_tick("*/10 * * * * *", T0, at(65), "RUN_ALL", GRACE)
    assert plan.run == T0
    assert plan.following == at(10)


def test_run_all_skips_ticks_older_than_the_window() -> None:
    now = T0 + RUN_ALL_WINDOW + timedelta(minutes=30, seconds=5)
    plan = plan_tick("0 */10 * * * *", T0, now, "RUN_ALL", GRACE)
    window_start = now - RUN_ALL_WINDOW
    assert plan.run == datetime(2024, 1, 1, 12, 40, tzinfo=UTC)
    assert plan.run > window_start
    assert plan.skipped == 4  # 12:00, 12:10, 12:20, 12:30
