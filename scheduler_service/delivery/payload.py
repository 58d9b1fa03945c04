"""What is sent for one tick: the rendered body and the headers that identify the tick.

The ``Idempotency-Key`` is a UUIDv5 of the job id and the tick's scheduled time, so every
attempt and every re-delivery of one tick carries the same key, with nothing stored.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scheduler_service.clock import iso_utc

PLACEHOLDER = "{{timestamp}}"
# Fixed for good: changing it changes every key, so re-deliveries across an upgrade would
# no longer be recognised by targets as the same tick.
IDEMPOTENCY_NAMESPACE = uuid.UUID("1a9edc7b-220f-4c37-9141-68525fad2985")


def render_body(body: Any, scheduled_at: datetime) -> Any:
    """A deep copy of ``body`` with ``{{timestamp}}`` in every string value (not in keys)
    replaced by the tick's scheduled time."""
    return _render(body, _iso(scheduled_at))


def _render(value: Any, stamp: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, stamp)
    if isinstance(value, Mapping):
        return {key: _render(item, stamp) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, stamp) for item in value]
    if isinstance(value, tuple):
        return tuple(_render(item, stamp) for item in value)
    return copy.deepcopy(value)


def idempotency_key(job_id: str, scheduled_at: datetime) -> str:
    """The same for every attempt and re-delivery of one tick; different between ticks and jobs."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{job_id}/{_iso(scheduled_at)}"))


def outgoing_headers(
    job_headers: Mapping[str, str], *, job_id: str, scheduled_at: datetime, attempt: int
) -> dict[str, str]:
    """The job's headers plus the scheduler's; ours win over a job header of the same name
    (compared case-insensitively)."""
    ours = {
        "Idempotency-Key": idempotency_key(job_id, scheduled_at),
        "X-Scheduler-Job-Id": job_id,
        "X-Scheduler-Scheduled-At": _iso(scheduled_at),
        "X-Scheduler-Attempt": str(attempt),
    }
    reserved = {name.lower() for name in ours}
    headers = {name: value for name, value in job_headers.items() if name.lower() not in reserved}
    headers.update(ours)
    return headers


def _iso(when: datetime) -> str:
    stamp = iso_utc(when)
    assert stamp is not None  # iso_utc maps only None to None
    return stamp
