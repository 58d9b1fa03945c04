"""When a job created or changed through the API next runs: its first tick, the rules
that make a write a 400 (a ``runAt`` in the past, a window with no tick left), and the
default name. The scheduler's side of the same rules is ``scheduling.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError

from scheduler_service.errors import InvalidInput
from scheduler_service.records import Job
from scheduler_service.scheduling import first_tick, next_fields
from scheduler_service.schemas.jobs import check_window

# Fields whose change moves the next tick.
TIMING_FIELDS = frozenset({"schedule", "runAt", "timezone", "jitterMs", "startAt", "endAt"})


def default_name(method: str, endpoint: str) -> str:
    """``POST api.example.com``: what a job is called when its request names none."""
    return f"{method} {urlsplit(endpoint).hostname or endpoint}"[:200]


def check_merged(document: dict[str, Any]) -> None:
    """``check_window`` on a job with an update applied, as a 400 naming the fields."""
    try:
        check_window(document)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        names = ", ".join(sorted(messages))
        raise InvalidInput(f"Invalid request: check {names}", details=messages) from err


def next_run(job: Job, now: datetime, *, allow_past: bool,
             check_past: bool) -> dict[str, datetime | None]:  # fmt: skip
    """``nextRunAt`` and ``nextTickAt`` of ``job`` as of ``now``. A one-off whose ``runAt``
    has passed is a 400 when ``check_past`` (its ``runAt`` was just given, or it is being
    re-enabled), unless ``allow_past``: then it fires now. A schedule with no tick left in
    its window is a 400 naming ``endAt``."""
    if not job.enabled:
        return next_fields(job, None)
    tick = first_tick(job, now)
    if job.schedule is None and tick is not None and tick < now and check_past:
        if not allow_past:
            message = "runAt is in the past (add ?allowPast=true to run it now)."
            raise InvalidInput("Invalid request: check runAt", details={"runAt": [message]})
        tick = now
    if tick is None:
        message = "No tick of the schedule is left before endAt."
        raise InvalidInput("Invalid request: check endAt", details={"endAt": [message]})
    return next_fields(job, tick)
