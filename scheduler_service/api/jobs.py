"""``/api/jobs``: create, list, get, update, delete, executions, run now.

Each view is request -> schema -> ``JobService`` -> representation; errors are raised and
left to ``api/errors.py``.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, jsonify, request

from scheduler_service.api.body import json_body, optional_json_body
from scheduler_service.clock import iso_utc
from scheduler_service.errors import InvalidInput
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import (
    ExecutionResponseSchema,
    JobResponseSchema,
    LimitQuerySchema,
    load_or_raise,
)
from scheduler_service.schemas.jobs import RunJobSchema
from scheduler_service.schemas.query import JobListQuerySchema, WriteQuerySchema
from scheduler_service.services.job_service import JobService, parse_job_id
from scheduler_service.stores.jobs import JobFilter

jobs_api = Blueprint("jobs", __name__, url_prefix="/api/jobs")

_job = JobResponseSchema()
_executions = ExecutionResponseSchema(many=True)
# Query schemas built once (``job_service``'s note: building one costs more than a load).
_write_query = WriteQuerySchema()
_list_query = JobListQuerySchema()
_limit_query = LimitQuerySchema()
_run = RunJobSchema()


def _service() -> JobService:
    return get_runtime().job_service


def _ok(data: Any, status: int = 200, **extra: Any) -> tuple[Response, int]:
    return jsonify({"success": True, "data": data, **extra}), status


def _allow_past() -> bool:
    if not request.args:  # most writes: the schema's default without its load
        return False
    return bool(load_or_raise(_write_query, request.args)["allowPast"])


@jobs_api.post("")
def create_job() -> tuple[Response, int]:
    job = _job.dump(_service().create(json_body(), allow_past=_allow_past()))
    response, status = _ok(job, 201)
    # url_for("jobs.get_job", ...) without its URL building (a hex id needs no quoting).
    response.headers["Location"] = f"{request.script_root}{jobs_api.url_prefix}/{job['jobId']}"
    return response, status


@jobs_api.get("")
def list_jobs() -> tuple[Response, int]:
    query = load_or_raise(_list_query, request.args)
    if "cursor" in query and "page" in request.args:  # a cursor holds its page's number
        message = "Give either page or cursor, not both."
        raise InvalidInput("Invalid request: check cursor", details={"cursor": [message]})
    limit = query["limit"]
    selection = JobFilter(tags=tuple(query.get("tag") or ()), enabled=query.get("enabled"),
                          q=query.get("q"), sort=query["sort"])  # fmt: skip
    listed = _service().page(query["page"], limit, selection, query.get("cursor"))
    pagination = {
        "page": listed.page,
        "limit": limit,
        "total": listed.total,
        "totalPages": math.ceil(listed.total / limit),
        "totalExact": listed.total_exact,
        "complete": listed.complete,
        "nextCursor": listed.next_cursor,
    }
    return _ok(_job.dump(listed.jobs, many=True), pagination=pagination)


@jobs_api.get("/<job_id>")
def get_job(job_id: str) -> tuple[Response, int]:
    return _ok(_job.dump(_service().get(job_id)))


@jobs_api.put("/<job_id>")
def update_job(job_id: str) -> tuple[Response, int]:
    return _ok(_job.dump(_service().update(job_id, json_body(), allow_past=_allow_past())))


@jobs_api.delete("/<job_id>")
def delete_job(job_id: str) -> tuple[Response, int]:
    _service().delete(job_id)
    return _ok({"jobId": job_id.lower(), "deleted": True})


@jobs_api.get("/<job_id>/executions")
def list_executions(job_id: str) -> tuple[Response, int]:
    query = load_or_raise(_limit_query, request.args)
    records = _service().list_executions(job_id, query["limit"])
    return _ok(_executions.dump([record.to_document() for record in records]))


@jobs_api.post("/<job_id>/run")
def run_job(job_id: str) -> tuple[Response, int]:
    """Queue one tick due now; 202 because it runs on the scheduler, not in this request.
    No body, or ``{}``; an id that is not one is a 404 before the body is read."""
    parse_job_id(job_id)
    load_or_raise(_run, optional_json_body())
    scheduled_at = _service().run_now(job_id)
    return _ok({"jobId": job_id.lower(), "scheduledAt": iso_utc(scheduled_at)}, 202)
