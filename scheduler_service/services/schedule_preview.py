""""When will this run?": the next fire times of a schedule in a zone, computed by the
function the scheduler uses (``cron.next_fire_time``), and a description in English from
``cron-descriptor`` (a library made for it; 24-hour times, as the wall clock of the zone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cron_descriptor import ExpressionDescriptor, Options

from scheduler_service import cron

log = logging.getLogger(__name__)

# The fixed forms croniter gives the aliases (cron-descriptor does not know them).
_ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip


@dataclass(frozen=True)
class SchedulePreview:
    schedule: str  # normalized
    timezone: str
    description: str | None  # None if the library could not describe it (logged)
    next_run_times: list[datetime]


def preview(schedule: str, timezone: str, after: datetime, count: int) -> SchedulePreview:
    """The first ``count`` fire times strictly after ``after``, ascending (aware UTC)."""
    normalized = cron.parse(schedule)
    times: list[datetime] = []
    current = after
    for _ in range(count):
        current = cron.next_fire_time(normalized, current, timezone)
        times.append(current)
    return SchedulePreview(normalized, timezone, describe(normalized), times)


@lru_cache(maxsize=1024)
def describe(schedule: str) -> str | None:
    """``0 30 9-17 * * 1-5`` -> "At 30 minutes past the hour, between 09:00 and 17:59,
    Monday through Friday"."""
    expression = _ALIASES.get(schedule.lower(), schedule)
    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # the library's own errors; a schedule cron.parse accepted
        log.warning("cron-descriptor could not describe %r", schedule, exc_info=True)
        return None
