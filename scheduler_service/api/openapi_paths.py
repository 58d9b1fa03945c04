"""The paths of the OpenAPI document: every route of the API, its parameters, bodies and
the responses it can give (each error status with its contract code)."""

from __future__ import annotations

from typing import Any

from scheduler_service.api.errors import code_for_status
from scheduler_service.api.openapi_schemas import OBJECT_ID_PATTERN
from scheduler_service.schemas import (
    JobCreateSchema,
    JobUpdateSchema,
    LimitQuerySchema,
)
from scheduler_service.schemas.jobs import RunJobSchema
from scheduler_service.schemas.preview import PreviewQuerySchema
from scheduler_service.schemas.query import JobListQuerySchema, WriteQuerySchema
from scheduler_service.services.job_service import MAX_MANUAL_RUNS_IN_FLIGHT

SPEC_PATH = "/api/openapi.json"


def json_response(
    schema: Any, description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


# What each error status means here; the code comes from the mapper (api/errors.py).
_ERROR_DESCRIPTIONS = {
    400: "`details` maps each bad field (or `_schema`) to its messages",
    401: "missing or wrong `Authorization: Bearer <key>`",
    404: "no such job or dead letter (also for an id that is not 24 hex digits)",
    409: "valid, but the resource's state forbids it",
    413: "the body exceeds MAX_REQUEST_BYTES",
    414: "the request line is longer than the server takes",
    415: "the body must be application/json",
    429: "too many requests; see Retry-After",
    500: "details are logged, never shown",
    503: "the database is unreachable or did not answer in time",
}


def error_responses(*statuses: int) -> dict[str, Any]:
    responses = {}
    for status in statuses:
        headers = None
        if status in (429, 503):
            headers = {"Retry-After": {"schema": {"type": "string"}, "required": False}}
        description = f"{code_for_status(status).value}: {_ERROR_DESCRIPTIONS[status]}"
        responses[str(status)] = json_response("ErrorEnvelope", description, headers)
    return responses


# What a client can do next with the ``jobId`` that creation answers.
_JOB_LINKS = {
    name: {"operationId": name, "parameters": {"jobId": "$response.body#/data/jobId"}}
    for name in ("getJob", "updateJob", "deleteJob", "listExecutions", "runJob")
}

SCHEDULE_EXAMPLES = ["0 */5 * * * *", "*/30 * * * * *", "0 0 9 * * 1-5", "0 30 14 1 * *", "@hourly"]


def common_errors(protected: bool) -> tuple[int, ...]:
    """The errors any operation that needs the database may answer."""
    return (*((401,) if protected else ()), 414, 429, 500, 503)


def id_parameter(name: str, owner: str) -> dict[str, Any]:
    """A path parameter that holds an id (anything but 24 hex digits there is a 404)."""
    return {
        "in": "path",
        "name": name,
        "required": True,
        "description": f"The {owner}'s id: 24 hex digits (anything else is a 404).",
        "schema": {"type": "string", "pattern": OBJECT_ID_PATTERN},
    }


def all_operations(protected: bool) -> dict[str, dict[str, Any]]:
    """Path -> method -> operation, for every route of the API but dead letters'."""
    common = common_errors(protected)
    body_errors = (400, 413, 415)
    job_id = id_parameter("jobId", "job")

    def body(schema: Any) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    job_rules = (
        "A schedule that is malformed or can never fire, and a target the service refuses, "
        "are 400s naming the field."
    )
    return {
        "/api/jobs": {
            "post": {
                "operationId": "createJob",
                "tags": ["jobs"],
                "summary": "Create a job",
                "description": job_rules,
                "parameters": [{"in": "query", "schema": WriteQuerySchema}],
                "requestBody": body(JobCreateSchema),
                "responses": {
                    "201": {
                        **json_response(
                            "JobEnvelope",
                            "The job as stored",
                            {"Location": {"schema": {"type": "string"}, "required": True}},
                        ),
                        "links": _JOB_LINKS,
                    },
                    **error_responses(*body_errors, *common),
                },
            },
            "get": {
                "operationId": "listJobs",
                "tags": ["jobs"],
                "summary": "List jobs, newest first, or filtered and sorted",
                "description": "`tag` (repeatable: every tag given must be on the job), "
                "`enabled`, `q` (a case-insensitive substring of name or endpoint) and `sort` "
                "(`createdAt`, `nextRunAt`, `name`; `-` for descending; default `-createdAt`). "
                "`pagination.total` counts the jobs selected (`totalExact`: false when it is "
                "an estimate). Each page is read in windows of the sort key: its cost follows "
                "the page, not the number of jobs; `page` reads the pages before it too, "
                "`cursor` (`pagination.nextCursor` of the previous page) does not.",
                "parameters": [{"in": "query", "schema": JobListQuerySchema}],
                "responses": {
                    "200": json_response("JobListEnvelope", "One page of jobs"),
                    **error_responses(400, *common),
                },
            },
        },
        "/api/jobs/{jobId}": {
            "parameters": [job_id],
            "get": {
                "operationId": "getJob",
                "tags": ["jobs"],
                "summary": "One job",
                "responses": {
                    "200": json_response("JobEnvelope", "The job"),
                    **error_responses(404, *common),
                },
            },
            "put": {
                "operationId": "updateJob",
                "tags": ["jobs"],
                "summary": "Change some of a job's fields",
                "description": "A new schedule or re-enabling recomputes `nextRunAt`. "
                "A change that adds to `onSuccess`/`onFailure` while another such change "
                "holds the chain lock for more than 2 s is a 409 `CONFLICT`. " + job_rules,
                "parameters": [{"in": "query", "schema": WriteQuerySchema}],
                "requestBody": body(JobUpdateSchema),
                "responses": {
                    "200": json_response("JobEnvelope", "The job as updated"),
                    **error_responses(*body_errors, 404, 409, *common),
                },
            },
            "delete": {
                "operationId": "deleteJob",
                "tags": ["jobs"],
                "summary": "Delete a job; its executions stay in the history",
                "responses": {
                    "200": json_response("DeletedEnvelope", "Deleted"),
                    **error_responses(404, *common),
                },
            },
        },
        "/api/jobs/{jobId}/executions": {
            "parameters": [job_id],
            "get": {
                "operationId": "listExecutions",
                "tags": ["jobs"],
                "summary": "The job's attempts, newest first",
                "parameters": [{"in": "query", "schema": LimitQuerySchema}],
                "responses": {
                    "200": json_response("ExecutionListEnvelope", "Attempts"),
                    **error_responses(400, 404, *common),
                },
            },
        },
        "/api/jobs/{jobId}/run": {
            "parameters": [job_id],
            "post": {
                "operationId": "runJob",
                "tags": ["jobs"],
                "summary": "Fire one tick now",
                "description": "Whatever the schedule and `enabled` say, with the job's "
                "retry policy. No request body, or an empty JSON object: any field is a "
                "400, a body that is not JSON a 415. A job has at most "
                f"{MAX_MANUAL_RUNS_IN_FLIGHT} manual runs queued or running; one more is a "
                "409 `CONFLICT`.",
                "requestBody": {"required": False, "content": {
                    "application/json": {"schema": RunJobSchema}}},
                "responses": {
                    "202": json_response("RunQueuedEnvelope", "Queued; `scheduledAt` is the tick"),
                    **error_responses(*body_errors, 404, 409, *common),
                },
            },
        },
        "/api/schedules/preview": {
            "get": {
                "operationId": "previewSchedule",
                "tags": ["schedules"],
                "summary": "When a schedule will run: its next fire times and a description",
                "description": "The next `count` (1 to 50) fire times strictly after `from` "
                "(default now), in UTC, computed exactly as the scheduler computes them, with "
                "the schedule read on the wall clock of `timezone` (an IANA name, default "
                "UTC) and the DST rule of ISC cron. A schedule that is malformed or can never "
                "fire, or an unknown time zone, is a 400 naming the parameter.",
                "parameters": [{"in": "query", "schema": PreviewQuerySchema}],
                "responses": {
                    "200": json_response("SchedulePreviewEnvelope", "The next fire times"),
                    **error_responses(400, *common),
                },
            },
        },
        "/api/observability/health": {
            "get": {
                "operationId": "health",
                "tags": ["observability"],
                "summary": "Liveness and the database's state (never needs a key)",
                "responses": {
                    "200": json_response("Health", "Healthy"),
                    "503": json_response("Health", "Unhealthy: the database is down or hangs"),
                    **error_responses(414, 429, 500),
                },
            },
        },
        "/api/observability/stats": {
            "get": {
                "operationId": "stats",
                "tags": ["observability"],
                "summary": "Execution, scheduler and job counts",
                "responses": {
                    "200": json_response("StatsEnvelope", "Counts"),
                    **error_responses(*common),
                },
            },
        },
        "/api/observability/failures": {
            "get": {
                "operationId": "failures",
                "tags": ["observability"],
                "summary": "Failed attempts, newest first",
                "parameters": [{"in": "query", "schema": LimitQuerySchema}],
                "responses": {
                    "200": json_response("ExecutionListEnvelope", "Failed attempts"),
                    **error_responses(400, *common),
                },
            },
        },
        SPEC_PATH: {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **error_responses(414, 429, 500),
                },
            },
        },
    }


def metrics_operation() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "metrics",
            "tags": ["meta"],
            "summary": "Prometheus metrics (never needs a key)",
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **error_responses(414, 429, 500),
            },
        },
    }
