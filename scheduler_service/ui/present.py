"""Presentation helpers for the templates: one time format, names, durations, SVG chart
geometry. Times are rendered in UTC on the server; ``ui.js`` shows them in the browser's
zone and keeps UTC on hover (the ``title``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scheduler_service.services.overview import Overview
from scheduler_service.services.schedule_preview import describe
from scheduler_service.ui import ui as bp

CHART_WIDTH, CHART_HEIGHT = 600, 160


def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def utc_text(value: Any) -> str:
    when = as_datetime(value)
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_text(value: Any) -> str:
    when = as_datetime(value)
    return "" if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{when.microsecond // 1000:03d}Z"
    )


def job_title(job: dict[str, Any]) -> str:
    """The job's name, or (before jobs had names) its method and host, as the API's default."""
    if job.get("name"):
        return str(job["name"])
    host = urlsplit(str(job.get("endpoint") or "")).hostname or "job"
    return f"{job.get('method') or 'POST'} {host}"


def duration_text(ms: Any) -> str:
    if ms is None:
        return ""
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def chart(overview: Overview) -> dict[str, Any]:
    """Stacked bars (success below failure) per minute, scaled to the busiest minute."""
    peak = max((minute.total for minute in overview.minutes), default=0) or 1
    slot = CHART_WIDTH / len(overview.minutes)
    bars = []
    for index, minute in enumerate(overview.minutes):
        ok = minute.counts["success"] * CHART_HEIGHT / peak
        bad = minute.counts["failure"] * CHART_HEIGHT / peak
        bars.append({
            "x": round(index * slot + 1, 2),
            "width": round(max(slot - 2, 1), 2),
            "ok_y": round(CHART_HEIGHT - ok, 2), "ok_h": round(ok, 2),
            "bad_y": round(CHART_HEIGHT - ok - bad, 2), "bad_h": round(bad, 2),
            "minute": minute,
        })  # fmt: skip
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "peak": peak, "bars": bars}


for _name, _function in {
    "utc_text": utc_text, "iso_text": iso_text, "job_title": job_title,
    "duration_text": duration_text, "pretty_json": pretty_json, "percent": percent,
    "describe": lambda schedule: describe(schedule) if schedule else None,
}.items():  # fmt: skip
    bp.add_app_template_filter(_function, _name)
