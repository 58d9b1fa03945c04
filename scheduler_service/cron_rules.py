"""Cron forms croniter accepts but reads inconsistently, refused before it sees them.

- A reversed range (``1-0``, ``59-0``, ``28-3``, ``SAT-SUN``): croniter wraps it around
  the field's end, other crons refuse it or read it as empty. One reading only: refused,
  with the two ranges to write instead (``28-31,1-3``; Sunday is 0 or 7, so ``6-7``).
- A range of one value (``5-5``, ``MON-MON``): croniter reads it as ``*``. Refused, with
  the single value to write instead.
- A ``#`` term (nth weekday) beside a restricted day of month, or an ``L``/``W`` term
  (last day, nearest weekday) beside a restricted day of week: croniter neither ORs nor
  ANDs these pairs consistently (``0 0 0 1 * 1#1`` ignores the 1st, ``0 0 0 1 * 1#5`` is
  "never fires"), so the other day field must be ``*`` or ``?``.

Every other pair of restricted day fields is ORed, as documented in ``cron.py``.
"""

from __future__ import annotations

from scheduler_service.errors import InvalidSchedule

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Field names of the 6-field form, seconds first.
_NAMES = ("second", "minute", "hour", "day of month", "month", "day of week")
_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day of month": (1, 31),
           "month": (1, 12), "day of week": (0, 7)}  # fmt: skip
_UNRESTRICTED = {"*", "?"}


def check_fields(fields: list[str]) -> None:
    """``fields``: the 5 or 6 fields of a schedule (not an alias). Raise InvalidSchedule."""
    six = fields if len(fields) == 6 else ["0", *fields]
    for name, field in zip(_NAMES, six, strict=True):
        for term in field.split(","):
            _check_range(name, term)
    day_of_month, day_of_week = six[3], six[5]
    if "#" in day_of_week and day_of_month not in _UNRESTRICTED:
        raise InvalidSchedule(
            f"A '#' day of week ('{day_of_week}') needs '*' or '?' as day of month "
            f"(got '{day_of_month}'): the two cannot be combined"
        )
    if any(mark in day_of_month.upper() for mark in "LW") and day_of_week not in _UNRESTRICTED:
        raise InvalidSchedule(
            f"An 'L' or 'W' day of month ('{day_of_month}') needs '*' or '?' as day of week "
            f"(got '{day_of_week}'): the two cannot be combined"
        )


def _check_range(name: str, term: str) -> None:
    span = term.split("/", 1)[0]
    if span.count("-") != 1:
        return  # no range (or a malformed one: croniter refuses it)
    low_text, high_text = span.split("-")
    low, high = _value(name, low_text), _value(name, high_text)
    if low is None or high is None or low < high:
        return
    if low == high:
        raise InvalidSchedule(
            f"The {name} range '{span}' holds one value (croniter reads it as '*'): "
            f"write '{low_text}'"
        )
    first, last = _BOUNDS[name]
    if name == "day of week" and high == 0:
        hint = f"{low_text}-7"
    else:
        hint = f"{low}-{last},{first}-{high}"
    raise InvalidSchedule(
        f"The {name} range '{span}' runs backwards: ranges go from low to high "
        f"(write '{hint}')"
    )


def _value(name: str, text: str) -> int | None:
    """A range end as a number (names of months and weekdays too); None: not a plain one."""
    lowered = text.strip().lower()
    if lowered.isascii() and lowered.isdigit():
        return int(lowered)
    if name == "month" and lowered in _MONTHS:
        return _MONTHS.index(lowered) + 1
    if name == "day of week" and lowered in _WEEKDAYS:
        return _WEEKDAYS.index(lowered)
    return None
