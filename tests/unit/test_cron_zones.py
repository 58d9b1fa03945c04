"""Schedules in a time zone and the DST rule (ISC/Vixie cron's), across both transitions of
a northern and a southern zone, and in zones whose offset or DST shift is not a whole hour.

The expected instants are written out; ``test_the_rule_against_a_brute_force_reading``
checks the search minute by minute against a direct reading of the rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler_service import cron
from scheduler_service.clock import FixedClock
from scheduler_service.cron_zones import check_zone
from scheduler_service.errors import InvalidTimezone

NY, SYD, LHI, IST = "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata"


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ticks(expr: str, tz: str, clock: FixedClock, count: int) -> list[datetime]:
    """The next ``count`` ticks as the scheduler reaches them: the clock moves to each."""
    found = []
    for _ in range(count):
        tick = cron.next_fire_time(expr, clock.now(), tz)
        clock.set(tick)
        found.append(tick)
    return found


def local(tick: datetime, tz: str) -> str:
    return tick.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M%z")


# --- America/New_York: spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z),
# fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).


def test_a_local_time_in_the_gap_fires_once_at_the_first_instant_after_it() -> None:
    clock = FixedClock(z(2026, 3, 7, 0))
    assert ticks("0 30 2 * * *", NY, clock, 3) == [
        z(2026, 3, 7, 7, 30),  # 02:30 EST
        z(2026, 3, 8, 7, 0),  # 02:30 does not exist: 03:00 EDT
        z(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_several_local_times_in_the_gap_and_the_end_of_the_gap_fire_once_together() -> None:
    clock = FixedClock(z(2026, 3, 8, 5))
    assert ticks("0 0,30 2,3 * * *", NY, clock, 3) == [
        z(2026, 3, 8, 7, 0),  # 02:00, 02:30 and 03:00: one tick at 03:00 EDT
        z(2026, 3, 8, 7, 30),
        z(2026, 3, 9, 6, 0),
    ]


def test_a_repeated_local_time_fires_once_at_its_first_occurrence_on_a_fixed_hour() -> None:
    clock = FixedClock(z(2026, 10, 31, 12))
    assert ticks("0 30 1 * * *", NY, clock, 3) == [
        z(2026, 11, 1, 5, 30),  # 01:30 EDT; not 06:30Z (01:30 EST) as croniter 7 would
        z(2026, 11, 2, 6, 30),
        z(2026, 11, 3, 6, 30),
    ]


def test_a_fixed_hour_with_every_minute_runs_its_hour_once() -> None:
    clock = FixedClock(z(2026, 11, 1, 5, 58))
    assert ticks("0 * 1 * * *", NY, clock, 2) == [z(2026, 11, 1, 5, 59), z(2026, 11, 2, 6, 0)]
    # From inside the second occurrence (01:10 EST), the next is the next day's 01:00.
    assert cron.next_fire_time("0 * 1 * * *", z(2026, 11, 1, 6, 10), NY) == z(2026, 11, 2, 6)


def test_a_wildcard_hour_follows_real_time_through_the_fall_back() -> None:
    clock = FixedClock(z(2026, 11, 1, 5, 0))
    assert [local(tick, NY) for tick in ticks("0 */15 * * * *", NY, clock, 9)] == [
        "2026-11-01 01:15-0400", "2026-11-01 01:30-0400", "2026-11-01 01:45-0400",
        "2026-11-01 01:00-0500", "2026-11-01 01:15-0500", "2026-11-01 01:30-0500",
        "2026-11-01 01:45-0500", "2026-11-01 02:00-0500", "2026-11-01 02:15-0500",
    ]  # fmt: skip
    assert z(2026, 11, 1, 5, 15) in fire_times_of("0 */15 * * * *", NY, z(2026, 11, 1, 5))
    assert z(2026, 11, 1, 6, 15) in fire_times_of("0 */15 * * * *", NY, z(2026, 11, 1, 5))


def fire_times_of(expr: str, tz: str, start: datetime) -> list[datetime]:
    return cron.fire_times(expr, start, start + timedelta(hours=3), 100, tz)


def test_a_wildcard_hour_follows_real_time_through_the_spring_forward() -> None:
    clock = FixedClock(z(2026, 3, 8, 6, 20))
    assert [local(tick, NY) for tick in ticks("0 */15 * * * *", NY, clock, 4)] == [
        "2026-03-08 01:30-0500", "2026-03-08 01:45-0500",
        "2026-03-08 03:00-0400", "2026-03-08 03:15-0400",
    ]  # fmt: skip
    clock = FixedClock(z(2026, 3, 8, 6, 20))  # 02:30 is skipped, an hour after 01:30 EST
    assert ticks("0 30 * * * *", NY, clock, 2) == [z(2026, 3, 8, 6, 30), z(2026, 3, 8, 7, 30)]
    clock = FixedClock(z(2026, 3, 8, 6, 20))  # a stepped hour is not a fixed one
    assert ticks("0 30 */2 * * *", NY, clock, 2) == [z(2026, 3, 8, 8, 30), z(2026, 3, 8, 10, 30)]


# --- Australia/Sydney: spring forward 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z the day
# before), fall back 2026-04-05 03:00 AEDT -> 02:00 AEST (16:00Z the day before).


def test_sydney_spring_forward() -> None:
    clock = FixedClock(z(2026, 10, 3, 0))
    assert [local(tick, SYD) for tick in ticks("0 30 2 * * *", SYD, clock, 2)] == [
        "2026-10-04 03:00+1100", "2026-10-05 02:30+1100"]  # fmt: skip
    assert clock.now() == z(2026, 10, 4, 15, 30)


def test_sydney_fall_back() -> None:
    clock = FixedClock(z(2026, 4, 3, 0))
    assert ticks("0 30 2 * * *", SYD, clock, 3) == [
        z(2026, 4, 3, 15, 30),  # 04-04 02:30 AEDT
        z(2026, 4, 4, 15, 30),  # 04-05 02:30 AEDT, the first of two
        z(2026, 4, 5, 16, 30),  # 04-06 02:30 AEST
    ]
    clock = FixedClock(z(2026, 4, 4, 15, 0))  # 02:00 AEDT; hourly at :30 follows real time
    assert [local(tick, SYD) for tick in ticks("0 30 * * * *", SYD, clock, 3)] == [
        "2026-04-05 02:30+1100", "2026-04-05 02:30+1000", "2026-04-05 03:30+1000"]  # fmt: skip


# --- Australia/Lord_Howe: a 30-minute shift. 2026-10-04 02:00 -> 02:30 (+10:30 -> +11),
# 2026-04-05 02:00 -> 01:30 (+11 -> +10:30).


def test_lord_howe_half_hour_gap() -> None:
    clock = FixedClock(z(2026, 10, 3, 0))
    assert ticks("0 15 2 * * *", LHI, clock, 2) == [
        z(2026, 10, 3, 15, 30),  # 02:15 does not exist: 02:30 +11
        z(2026, 10, 4, 15, 15),
    ]
    clock = FixedClock(z(2026, 10, 3, 15, 0))  # 01:30 +10:30; 02:00 and 02:15 are skipped
    assert [local(tick, LHI) for tick in ticks("0 */15 * * * *", LHI, clock, 3)] == [
        "2026-10-04 01:45+1030", "2026-10-04 02:30+1100", "2026-10-04 02:45+1100"]  # fmt: skip


def test_lord_howe_half_hour_repeat() -> None:
    clock = FixedClock(z(2026, 4, 3, 0))
    assert ticks("0 45 1 * * *", LHI, clock, 3) == [
        z(2026, 4, 3, 14, 45), z(2026, 4, 4, 14, 45), z(2026, 4, 5, 15, 15)]  # fmt: skip
    clock = FixedClock(z(2026, 4, 4, 14, 30))  # 01:30 +11
    assert [local(tick, LHI) for tick in ticks("0 45 * * * *", LHI, clock, 3)] == [
        "2026-04-05 01:45+1100", "2026-04-05 01:45+1030", "2026-04-05 02:45+1030"]  # fmt: skip


def test_kolkata_half_hour_offset() -> None:
    clock = FixedClock(z(2026, 1, 1, 0))
    assert ticks("0 0 9 * * 1-5", IST, clock, 2) == [z(2026, 1, 1, 3, 30), z(2026, 1, 2, 3, 30)]
    assert ticks("0 0 * * * *", IST, FixedClock(z(2026, 1, 1, 0)), 2) == [
        z(2026, 1, 1, 0, 30), z(2026, 1, 1, 1, 30)]  # fmt: skip


def test_utc_is_the_default_and_aliases_follow_the_rule() -> None:
    assert cron.next_fire_time("0 0 9 * * *", z(2026, 1, 1)) == z(2026, 1, 1, 9)
    assert cron.next_fire_time("0 0 9 * * *", z(2026, 1, 1), "UTC") == z(2026, 1, 1, 9)
    assert cron.next_fire_time("@daily", z(2026, 3, 7, 12), NY) == z(2026, 3, 8, 5)
    # @hourly follows real time through the fall back: 01:00 EDT, 01:00 EST, 02:00 EST.
    assert cron.fire_times("@hourly", z(2026, 11, 1, 4, 30), z(2026, 11, 1, 7), 5, NY) == [
        z(2026, 11, 1, 5), z(2026, 11, 1, 6), z(2026, 11, 1, 7)]  # fmt: skip


def test_latest_fire_time_in_a_zone() -> None:
    assert cron.latest_fire_time("0 */15 * * * *", z(2026, 11, 1, 4), z(2026, 11, 1, 6, 20),
                                 NY) == z(2026, 11, 1, 6, 15)  # fmt: skip
    # The gap's tick at 03:00 EDT; the second 01:30 is not a tick.
    assert cron.latest_fire_time("0 30 2 * * *", z(2026, 3, 1), z(2026, 3, 8, 7), NY) == z(
        2026, 3, 8, 7)
    assert cron.latest_fire_time("0 30 1 * * *", z(2026, 10, 1), z(2026, 11, 1, 6, 40),
                                 NY) == z(2026, 11, 1, 5, 30)  # fmt: skip
    assert cron.latest_fire_time("0 30 2 * * *", z(2026, 3, 8, 7), z(2026, 3, 8, 8), NY) is None
    year_before = z(2025, 6, 1, 0, 0, 0)
    assert cron.latest_fire_time("* * * * * *", year_before, z(2026, 6, 1, 0, 0, 0), SYD) == z(
        2026, 6, 1)


def _matches(expr: str, wall: datetime) -> bool:
    """Does the schedule match this naive wall time? (UTC arithmetic on naive walls.)"""
    aware = wall.replace(tzinfo=UTC)
    return cron.next_fire_time(expr, aware - timedelta(seconds=1)) == aware


def _brute_force(expr: str, tz: str, start: datetime, end: datetime,
                 real_time: bool) -> list[datetime]:  # fmt: skip
    """The rule read directly, minute by minute: an instant fires if its wall time matches
    (fixed hours: its first occurrence only), or if it ends a gap holding a match."""
    zone, found, instant = ZoneInfo(tz), [], start
    while instant <= end:
        here = instant.astimezone(zone)
        wall = here.replace(tzinfo=None)
        fires = _matches(expr, wall) and (real_time or here.fold == 0)
        before = (instant - timedelta(minutes=1)).astimezone(zone)
        jump = (here.utcoffset() or timedelta()) - (before.utcoffset() or timedelta())
        if not fires and not real_time and jump > timedelta(0):
            gap_start = wall - jump
            fires = any(_matches(expr, gap_start + timedelta(minutes=m))
                        for m in range(int(jump.total_seconds() // 60)))  # fmt: skip
        if fires:
            found.append(instant)
        instant += timedelta(minutes=1)
    return found


@pytest.mark.parametrize(("tz", "day"), [
    (NY, (2026, 3, 8)), (NY, (2026, 11, 1)), (SYD, (2026, 4, 5)), (SYD, (2026, 10, 4)),
    (LHI, (2026, 4, 5)), (LHI, (2026, 10, 4)), (IST, (2026, 3, 8)),
])  # fmt: skip
@pytest.mark.parametrize(("expr", "real_time"), [
    ("0 30 2 * * *", False), ("0 30 1 * * *", False), ("0 */15 * * * *", True),
    ("0 0,45 1-3 * * *", False), ("0 45 * * * *", True), ("0 15 2 * * *", False),
    ("0 */20 1/2 * * *", True),
])  # fmt: skip
def test_the_rule_against_a_brute_force_reading(tz: str, expr: str, real_time: bool,
                                                day: tuple[int, int, int]) -> None:  # fmt: skip
    start = z(*day) - timedelta(hours=14)  # 24 hours around the change in each zone
    end = start + timedelta(hours=24)
    expected = _brute_force(expr, tz, start, end, real_time)
    assert cron.fire_times(expr, start - timedelta(seconds=1), end, 1000, tz) == expected


@pytest.mark.parametrize("name", ["Mars/Olympus", "america/new_york", "", "UTC+2", "../etc",
                                  "localtime", "America/New_York ", "x" * 300])  # fmt: skip
def test_unknown_zones_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidTimezone) as info:
        check_zone(name)
    assert list(info.value.details) == ["timezone"]
    assert len(info.value.message) < 200


def test_zone_must_be_a_string() -> None:
    with pytest.raises(InvalidTimezone):
        check_zone(5)
    assert check_zone("Europe/Paris") == "Europe/Paris"
