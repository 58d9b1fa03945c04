from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler_service import cron
from scheduler_service.errors import InvalidSchedule


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


T0 = at(2024, 1, 1, 12, 0, 0)  # a Monday


def jan1(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return at(2024, 1, 1, hour, minute, second)


def nexts(expr: str, start: datetime, count: int) -> list[datetime]:
    found, current = [], start
    for _ in range(count):
        current = cron.next_fire_time(expr, current)
        found.append(current)
    return found


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("0 */5 * * * *", jan1(12, 0, 1), [jan1(12, 5), jan1(12, 10)]),
        ("*/30 * * * * *", jan1(12, 0, 10), [jan1(12, 0, 30), jan1(12, 1)]),
        ("0 0 */2 * * *", jan1(1, 30), [jan1(2), jan1(4)]),
        ("0 30 14 1 * *", at(2024, 1, 1, 15), [at(2024, 2, 1, 14, 30), at(2024, 3, 1, 14, 30)]),
        # Friday 2024-01-05 after 9:00 -> Monday 2024-01-08, then Tuesday.
        ("0 0 9 * * 1-5", at(2024, 1, 5, 9, 0, 1), [at(2024, 1, 8, 9), at(2024, 1, 9, 9)]),
        # 5-field form fires at second 0.
        ("*/15 * * * *", jan1(12, 0, 30), [jan1(12, 15), jan1(12, 30)]),
        ("0 0 0 29 2 *", T0, [at(2024, 2, 29), at(2028, 2, 29)]),
        ("0 0 0 * * 7", T0, [at(2024, 1, 7), at(2024, 1, 14)]),  # 7 is Sunday too
        ("0 0 0 * * 0", T0, [at(2024, 1, 7), at(2024, 1, 14)]),
        ("@hourly", T0, [jan1(13), jan1(14)]),
    ],
)
def test_next_fire_times(expr: str, start: datetime, expected: list[datetime]) -> None:
    assert nexts(expr, start, len(expected)) == expected


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: the 13th OR any Friday (Vixie cron OR semantics).
    assert nexts("0 0 0 13 * 5", T0, 3) == [at(2024, 1, 5), at(2024, 1, 12), at(2024, 1, 13)]


def test_strictly_after_a_tick() -> None:
    assert cron.next_fire_time("0 */5 * * * *", at(2024, 1, 1, 12, 5)) == at(2024, 1, 1, 12, 10)
    assert cron.next_fire_time("* * * * * *", T0) == T0 + timedelta(seconds=1)


def test_sub_second_input_and_utc_output() -> None:
    result = cron.next_fire_time("* * * * * *", T0 + timedelta(microseconds=999_999))
    assert result == T0 + timedelta(seconds=1)
    assert result.microsecond == 0
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)


def test_other_timezone_input_gives_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    result = cron.next_fire_time("0 0 9 * * *", datetime(2024, 1, 1, 10, 0, tzinfo=plus_two))
    assert result == at(2024, 1, 1, 9)
    assert result.tzinfo == UTC


def test_naive_datetime_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_fire_time("* * * * * *", datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("0 */5 * * * *", "0 */5 * * * *"),
        ("  0   */5\t* * *  *\n", "0 */5 * * * *"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 0 0 29 2 *", "0 0 0 29 2 *"),
        ("0 0 0 30 2 1", "0 0 0 30 2 1"),  # DOW makes it fire (OR)
        ("0 0 9 * * mon-fri", "0 0 9 * * mon-fri"),
        ("0 0 0 L * *", "0 0 0 L * *"),
        ("@daily", "@daily"),
    ],
)
def test_parse_accepts_and_normalizes(raw: str, normalized: str) -> None:
    assert cron.parse(raw) == normalized


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * * *",  # year field
        "61 * * * * *",
        "* 60 * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * 32 * *",
        "* * * * 13 *",
        "* * * * * 8",
        "-1 * * * * *",
        "*/0 * * * * *",
        "1-60 * * * * *",
        "a b c d e f",
        "1,,2 * * * * *",
        "0 0 0 30 2 *",  # never fires
        "0 0 0 31 4 *",
        "0 0 0 31 2,4 *",
        "H * * * * *",
        "h(0-5) * * * * *",
        "R * * * * *",
        "@reboot",
        "@every 5s",
        "0\u00a00 * * * *",
        "0 0 * * *\x00",
        "0 " * 200,
    ],
)
def test_parse_rejects(expr: str) -> None:
    with pytest.raises(InvalidSchedule) as info:
        cron.parse(expr)
    assert info.value.message
    assert info.value.details == {"schedule": [info.value.message]}


@pytest.mark.parametrize("value", [None, 5, ["* * * * * *"], b"* * * * * *"])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidSchedule, match="string"):
        cron.parse(value)  # type: ignore[arg-type]


def test_next_fire_time_raises_invalid_schedule_only() -> None:
    with pytest.raises(InvalidSchedule):
        cron.next_fire_time("0 0 0 30 2 *", T0)
    with pytest.raises(InvalidSchedule):  # past datetime.max: croniter's OverflowError
        cron.next_fire_time("0 0 0 1 1 *", at(9999, 6, 1))


def test_latest_fire_time_over_a_long_gap() -> None:
    until = at(2025, 1, 1, 0, 0, 0, 500_000)
    year_before = until - timedelta(days=366)
    assert cron.latest_fire_time("* * * * * *", year_before, until) == at(2025, 1, 1)
    assert cron.latest_fire_time("0 30 14 1 * *", at(2024, 1, 1), until) == at(2024, 12, 1, 14, 30)


def test_latest_fire_time_bounds() -> None:
    tick = at(2024, 1, 1, 12, 5)
    # until is inclusive, after is exclusive.
    assert cron.latest_fire_time("0 */5 * * * *", T0, tick) == tick
    assert cron.latest_fire_time("0 */5 * * * *", tick, tick + timedelta(minutes=4)) is None
    assert cron.latest_fire_time("0 */5 * * * *", T0, T0) is None


def test_fire_times() -> None:
    expected = [at(2024, 1, 1, 12, 0, 30), at(2024, 1, 1, 12, 1), at(2024, 1, 1, 12, 1, 30)]
    assert cron.fire_times("*/30 * * * * *", T0, at(2024, 1, 1, 12, 1, 30), 10) == expected
    assert cron.fire_times("*/30 * * * * *", T0, at(2024, 1, 2), 2) == expected[:2]
    assert cron.fire_times("*/30 * * * * *", T0, at(2024, 1, 2), 0) == []
    assert cron.fire_times("0 0 0 1 1 *", T0, at(2024, 6, 1), 5) == []


# One reading per form (cron_rules.py): reversed ranges and the day-field pairs croniter
# reads inconsistently are refused; the rest of the day-field pairs are ORed.
@pytest.mark.parametrize(
    ("expr", "hint"),
    [
        ("0 1-0 * * * *", "1-59,0-0"),
        ("59-0 * * * * *", "59-59,0-0"),
        ("0 0 0 28-3 * *", "28-31,1-3"),
        ("0 0 0 28-3/2 * *", "28-31,1-3"),  # with a step
        ("0 0 22-2 * * *", "22-23,0-2"),
        ("0 0 0 1,28-3 * *", "28-31,1-3"),  # inside a list
        ("0 0 0 * NOV-FEB *", "11-12,1-2"),  # month names
        ("0 0 0 * 12-1 *", "12-12,1-1"),
        ("0 0 0 * * SAT-SUN", "SAT-7"),  # Sunday is 0 or 7
        ("0 0 0 * * 6-0", "6-7"),
        ("0 0 0 * * 5-1", "5-7,0-1"),
        ("1-0 * * * *", "1-59,0-0"),  # 5-field form: minutes first
    ],
)
def test_reversed_ranges_are_refused(expr: str, hint: str) -> None:
    with pytest.raises(InvalidSchedule, match="runs backwards") as info:
        cron.parse(expr)
    assert f"'{hint}'" in info.value.message


@pytest.mark.parametrize(
    ("expr", "single"),
    [
        ("0 0 5-5 * * *", "5"),  # croniter read these as '*': every hour, every day...
        ("0 0 0 * * 3-3", "3"),
        ("0 0 0 * * MON-MON", "MON"),
        ("0 0 0 5-5/2 * *", "5"),
        ("7-7 * * * * *", "7"),
        ("0 0 0 * 3-3 *", "3"),
    ],
)
def test_ranges_of_one_value_are_refused(expr: str, single: str) -> None:
    with pytest.raises(InvalidSchedule, match="holds one value") as info:
        cron.parse(expr)
    assert info.value.message.endswith(f"write '{single}'")


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 0 1 * 1#1",  # croniter ignored the 1st here
        "0 0 0 30 2 1#5",  # and called this one never firing
        "0 0 0 */2 * 1#1",
        "0 0 0 1-7 * MON#1",
        "0 0 0 L * 5",  # croniter ignored the L here
        "0 0 0 15W * 1",  # and the weekday here
        "0 0 0 L,15 * 1",
        "0 0 0 15W * MON-FRI",
    ],
)
def test_nth_weekday_and_last_or_nearest_day_need_the_other_day_field_open(expr: str) -> None:
    with pytest.raises(InvalidSchedule, match="cannot be combined"):
        cron.parse(expr)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 0 0 * * 1#1", [at(2024, 2, 5), at(2024, 3, 4), at(2024, 4, 1)]),
        ("0 0 0 ? * MON#1", [at(2024, 2, 5), at(2024, 3, 4), at(2024, 4, 1)]),
        ("0 0 0 L * *", [at(2024, 1, 31), at(2024, 2, 29), at(2024, 3, 31)]),
        ("0 0 0 15W * ?", [at(2024, 1, 15), at(2024, 2, 15), at(2024, 3, 15)]),
        ("0 0 0 * * 5-7", [at(2024, 1, 5), at(2024, 1, 6), at(2024, 1, 7)]),
        ("0 0 22-23 * * *", [jan1(22), jan1(23), at(2024, 1, 2, 22)]),
        # A plain day of month and a plain day of week: either (OR).
        ("0 0 0 1 * 3", [at(2024, 1, 3), at(2024, 1, 10), at(2024, 1, 17)]),
        ("0 0 0 6 * 3", [at(2024, 1, 3), at(2024, 1, 6), at(2024, 1, 10)]),
    ],
)
def test_the_forms_kept_fire_as_documented(expr: str, expected: list[datetime]) -> None:
    assert nexts(expr, T0, len(expected)) == expected


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("expr", ["* * * * * *", "*/7 * * * * *", "0 30 2 * * *"])
def test_the_next_fire_time_of_an_instant_is_that_of_its_whole_second(expr: str, tz: str) -> None:
    """What the kept answers rest on (``cron._next_after_second``): fire times are whole
    seconds, so any instant within a second has the same next one (here around the DST
    changes of 2024, strictly after even when the whole second is itself a fire time)."""
    for start in (at(2024, 3, 10, 6, 59, 59), at(2024, 11, 3, 5, 30, 0), at(2024, 4, 6, 15, 0, 0)):
        for second in range(0, 3700, 97):
            whole = start + timedelta(seconds=second)
            expected = cron.next_fire_time(expr, whole, tz)
            assert expected > whole
            for micros in (1, 500_000, 999_999):
                later = whole + timedelta(microseconds=micros)
                assert cron.next_fire_time(expr, later, tz) == expected
                assert cron._next_after_second.__wrapped__(expr, later, tz) == expected
