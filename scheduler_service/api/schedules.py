"""``/api/schedules/preview``: when a schedule will run, before a job is made with it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from scheduler_service.clock import iso_utc
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import load_or_raise
from scheduler_service.schemas.preview import PreviewQuerySchema
from scheduler_service.services.schedule_preview import preview

schedules_api = Blueprint("schedules", __name__, url_prefix="/api/schedules")


@schedules_api.get("/preview")
def preview_schedule() -> tuple[Response, int]:
    query = load_or_raise(PreviewQuerySchema(), request.args)
    after = query.get("from_") or get_runtime().clock.now()
    result = preview(query["schedule"], query["timezone"], after, query["count"])
    data = {
        "schedule": result.schedule,
        "timezone": result.timezone,
        "description": result.description,
        "nextRunTimes": [iso_utc(when) for when in result.next_run_times],
    }
    return jsonify({"success": True, "data": data}), 200
