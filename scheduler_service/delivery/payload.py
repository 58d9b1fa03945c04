"""What is sent for one tick: the rendered body and the headers that identify the tick.

The ``Idempotency-Key`` is a UUIDv5 of the job id and the tick's scheduled time, so every
attempt and every re-delivery of one tick carries the same key, with nothing stored; a
chained run's is a UUIDv5 of the child, the list and the parent's tick (``chain_key``).

Placeholders are replaced in string values of the body (never in keys), in one pass, so
text put in (a parent's response body) is never read as a placeholder itself:

- ``{{timestamp}}``: the tick's scheduled time, wherever it appears in a string;
- in a chained run only (elsewhere they are left as written), ``{{parent.jobId}}``,
  ``{{parent.scheduledAt}}``, ``{{parent.status}}``, ``{{parent.responseCode}}`` and
  ``{{parent.responseBody}}``. A string that is exactly one of them becomes that JSON
  value: ``responseCode`` a number (null when the parent had no answer), ``responseBody``
  a string (null when none; never parsed as JSON), the others strings. Inside a longer
  string each is replaced by its text, and a null by nothing.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import bson

from scheduler_service.clock import iso_utc

PLACEHOLDER = "{{timestamp}}"
PARENT_FIELDS = ("jobId", "scheduledAt", "status", "responseCode", "responseBody")
_NAMES = "|".join(PARENT_FIELDS)
_PLACEHOLDERS = re.compile(r"\{\{(timestamp|parent\.(?:" + _NAMES + r"))\}\}")
RESPONSE_BODY = "{{parent.responseBody}}"
# Fixed for good: changing it changes every key, so re-deliveries across an upgrade would
# no longer be recognised by targets as the same tick.
IDEMPOTENCY_NAMESPACE = uuid.UUID("1a9edc7b-220f-4c37-9141-68525fad2985")


def render_body(body: Any, scheduled_at: datetime,
                parent: Mapping[str, Any] | None = None) -> Any:  # fmt: skip
    """A deep copy of ``body`` with its placeholders replaced (see above): ``{{timestamp}}``
    by the tick's scheduled time, and (a chained run) ``{{parent.*}}`` by ``parent``'s
    values (``Trigger.parent_values``)."""
    values: dict[str, Any] = {"timestamp": _iso(scheduled_at)}
    if parent is not None:
        values.update({f"parent.{name}": parent.get(name) for name in PARENT_FIELDS})
    return _render(body, values)


def _render(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _render_string(value, values)
    if isinstance(value, Mapping):
        return {key: _render(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, values) for item in value]
    if isinstance(value, tuple):
        return tuple(_render(item, values) for item in value)
    return copy.deepcopy(value)


def _render_string(text: str, values: dict[str, Any]) -> Any:
    whole = _PLACEHOLDERS.fullmatch(text)
    if whole is not None and whole.group(1) != "timestamp" and whole.group(1) in values:
        return values[whole.group(1)]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:  # a parent placeholder outside a chained run: left as written
            return match.group(0)
        value = values[name]
        return "" if value is None else str(value)

    return _PLACEHOLDERS.sub(replace, text)


def idempotency_key(job_id: str, scheduled_at: datetime) -> str:
    """The same for every attempt and re-delivery of one tick; different between ticks and jobs."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{job_id}/{_iso(scheduled_at)}"))


def chain_key(child_id: str, list_name: str, parent_id: str, parent_scheduled_at: datetime) -> str:
    """The ``Idempotency-Key`` of the run of ``child_id`` that the parent's tick triggered
    through its ``list_name`` (``onSuccess`` or ``onFailure``): the same however often the
    trigger is applied or the run re-delivered."""
    name = f"chain/{child_id}/{list_name}/{parent_id}/{_iso(parent_scheduled_at)}"
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, name))


def outgoing_headers(
    job_headers: Mapping[str, str], *, job_id: str, scheduled_at: datetime, attempt: int,
    key: str | None = None,
) -> dict[str, str]:  # fmt: skip
    """The job's headers plus the scheduler's; ours win over a job header of the same name
    (compared case-insensitively). ``key``: the tick's ``Idempotency-Key`` when it is not
    derived from the job and ``scheduled_at`` (a chained run's)."""
    ours = {
        "Idempotency-Key": key or idempotency_key(job_id, scheduled_at),
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


def largest_rendering(body: Any, response_body_limit: int) -> int:
    """An upper bound of the BSON bytes of ``body`` rendered in a chained run (its dead
    letter keeps it): its own, plus for each ``{{parent.responseBody}}`` the parent's
    response as its record keeps it (``response_body_limit`` bytes, up to 3 each once
    decoded: a byte that is not UTF-8 becomes U+FFFD). 23 bytes of placeholder can so
    become 12 KiB, 4,000 of them 50 MB."""
    placeholders = json.dumps(body, ensure_ascii=False).count(RESPONSE_BODY)
    return len(bson.encode({"body": body})) + placeholders * 3 * response_body_limit
