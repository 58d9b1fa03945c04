"""A schedule read on the wall clock of an IANA time zone, with ISC/Vixie cron's DST rule.

The schedule's fields match *wall-clock* times; fire times are UTC instants. Where a zone's
offset changes, wall time and real time part, and the rule decides:

- a wall time that does not exist (spring forward) fires once, at the first instant after
  the gap: ``0 30 2 * * *`` in America/New_York on 2026-03-08 fires at 03:00 EDT (07:00Z);
- a wall time that occurs twice (fall back) fires once, at its first occurrence, when the
  hour field is fixed: ``0 30 1 * * *`` on 2026-11-01 fires at 01:30 EDT (05:30Z) only;
- a schedule whose hour field is a wildcard or a step (``*``, ``?``, ``*/2``, ``1/3``,
  ``@hourly``) follows real time: the wall times that occur fire, those that do not are
  skipped, and a repeated one fires at both occurrences.

croniter applies a rule of its own to aware datetimes; 7.0.0 fires a fixed-hour repeated
time twice (01:30 EDT and 01:30 EST), so it is given naive wall times only and the rule is
applied here. Between two offset changes wall time is real time plus a constant; the
search asks croniter for the next matching wall time on the current offset and checks
whether the offset still holds at the answer; if not, it finds the change by bisection
(fire times and offset changes are whole seconds) and continues on the new offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from scheduler_service.errors import InvalidTimezone

DEFAULT_ZONE = "UTC"
# Each step of the search crosses one offset change or skips one repeated stretch: two a
# year, so this covers croniter's own 50-year search window with room to spare.
MAX_STEPS = 1000
_SECOND = timedelta(seconds=1)

# The first matching wall time strictly after a naive wall time (a croniter search).
NextWall = Callable[[datetime], datetime]


# Files of a zone database that are not zones of their own: the machine's own setting (it
# differs between machines) and tzdata's placeholder.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA names this machine's zone database (or the ``tzdata`` package) knows."""
    return (frozenset(available_timezones()) - _NOT_ZONES) | {DEFAULT_ZONE}


def check_zone(name: object) -> str:
    """``name`` if it is a known IANA zone name; else InvalidTimezone."""
    if not isinstance(name, str):
        raise InvalidTimezone("Time zone must be a string (an IANA name such as Europe/Paris)")
    load_zone(name)
    return name


@lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    if name not in zone_names():
        raise InvalidTimezone(f"Unknown time zone '{name[:64]}' (an IANA name such as "
                              f"Europe/Paris)")  # fmt: skip
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(f"Unknown time zone '{name[:64]}'") from exc


def is_utc(name: str) -> bool:
    return name in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu",
                    "Etc/Zulu")  # fmt: skip


def follows_real_time(hour_field: str) -> bool:
    """True for a wildcard or stepped hour field: such schedules follow real time."""
    return hour_field[:1] in ("*", "?") or "/" in hour_field


def next_instant(next_wall: NextWall, after: datetime, zone: ZoneInfo, *,
                 real_time: bool) -> datetime:  # fmt: skip
    """The first fire instant strictly after ``after`` (aware), as aware UTC."""
    lo = _whole(after)  # an instant on ``offset``; nothing at or before it fires
    offset = _offset(zone, lo)
    floor_wall = _wall(lo, offset)  # walls strictly after it are searched, on ``offset``
    for _ in range(MAX_STEPS):
        wall = next_wall(floor_wall)
        candidate = _instant(wall, offset)
        if _offset(zone, candidate) == offset:
            if real_time or candidate.astimezone(zone).fold == 0:
                return candidate
            # The second occurrence of a repeated wall time, on a fixed hour: go past the
            # repeated stretch (it began at the last change before ``candidate``).
            change = _first_change(zone, _fold0(wall, zone), candidate)
            lo, floor_wall = candidate, _wall(change, _offset(zone, change - _SECOND)) - _SECOND
            continue
        change = _first_change(zone, lo, candidate)
        new = _offset(zone, change)
        if new > offset:  # spring forward: walls [change + offset, change + new) never occur
            if not real_time and wall < _wall(change, new):
                return change
            floor_wall = _wall(change, new) - _SECOND
        else:  # fall back: walls [change + new, change + offset) occur a second time
            floor_wall = _wall(change, new if real_time else offset) - _SECOND
        lo, offset = change, new
    raise ValueError("cron: no fire time within the search's steps")


def _first_change(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in ``(lo, hi]`` whose offset differs from ``lo``'s (``hi``'s
    does)."""
    before = _offset(zone, lo)
    low, high = int(lo.timestamp()), int(hi.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, datetime.fromtimestamp(middle, UTC)) == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _fold0(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first occurrence of a repeated wall time, as an aware UTC instant."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _whole(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(microsecond=0)


def _wall(instant: datetime, offset: timedelta) -> datetime:
    return (instant + offset).replace(tzinfo=None)


def _instant(wall: datetime, offset: timedelta) -> datetime:
    return (wall - offset).replace(tzinfo=UTC)
