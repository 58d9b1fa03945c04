"""``GET /api/openapi.json``: an OpenAPI 3.1 description of the API, built from the
marshmallow schemas the API really uses (apispec + MarshmallowPlugin).

Request bodies and query parameters come from ``schemas/`` as they are; the envelopes
(``{"success": true, "data": ...}`` and the contract's error object) are described here.
What JSON Schema cannot say is said in prose: a schedule must be a cron expression that can
fire, so a body that matches the schema may still be a 400.

The document describes the running app: ``401`` and the bearer security scheme appear
when ``API_KEYS`` is set (without keys nothing answers 401), and ``/metrics`` when the app
serves it. It is built once per app, on first request.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import INCLUDE, Schema, fields, validate

from scheduler_service import __version__
from scheduler_service.api.errors import answered_codes
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import (
    ExecutionResponseSchema,
    JobCreateSchema,
    JobResponseSchema,
    JobUpdateSchema,
    LimitQuerySchema,
    PageQuerySchema,
)
from scheduler_service.schemas import headers as header_rules
from scheduler_service.schemas.fields import (
    MAX_URL_LENGTH,
    Headers,
    HttpUrl,
    InstantInput,
    IsoDateTime,
    MaskedHeaders,
    ObjectIdString,
    Timezone,
)
from scheduler_service.schemas.preview import PreviewQuerySchema
from scheduler_service.services.job_service import MAX_MANUAL_RUNS_IN_FLIGHT

openapi_api = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
SPEC_PATH = "/api/openapi.json"
_EXTENSION_KEY = "openapi_spec"

OBJECT_ID_PATTERN = "^[0-9a-fA-F]{24}$"
# headers.py's rules: visible Latin-1, spaces and tabs only between; no name the scheduler
# sets itself (spelled out per letter: JSON Schema patterns have no case-insensitive flag).
HEADER_VALUE_PATTERN = (
    "^(?:[\\x21-\\x7e\\x80-\\xff](?:[\\t\\x20-\\x7e\\x80-\\xff]*[\\x21-\\x7e\\x80-\\xff])?)?$"
)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)  # '-' only


REFUSED_HEADER_NAME_PATTERN = (
    "^(?:" + "|".join(_any_case(name) for name in sorted(header_rules.SET_BY_THE_SCHEDULER))
    + ")$|^" + _any_case(header_rules.PROXY_PREFIX)
)
URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://"
# The characters of IANA zone names; the name must also be one the zone database knows.
TIMEZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+\\-]*(/[A-Za-z0-9_+\\-]+)*$"
TIMEZONE_EXAMPLES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata"]


# -- envelopes ------------------------------------------------------------------------------


class ErrorSchema(Schema):
    code = fields.String(required=True, validate=validate.OneOf(answered_codes()))
    message = fields.String(required=True)
    details = fields.Dict(
        required=True,
        metadata={"description": "For VALIDATION_ERROR: each bad field and its messages."},
    )


class ErrorEnvelopeSchema(Schema):
    success = fields.Boolean(required=True, validate=validate.Equal(False))
    error = fields.Nested(ErrorSchema, required=True)


class PaginationSchema(Schema):
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    totalPages = fields.Integer(required=True)


def _success(name: str, data: fields.Field, **extra: fields.Field) -> type[Schema]:
    members: dict[str, Any] = {
        "success": fields.Boolean(required=True, validate=validate.Equal(True)),
        "data": data,
        **extra,
    }
    return Schema.from_dict(members, name=name)


class DeletedSchema(Schema):
    jobId = fields.String(required=True, validate=validate.Regexp(OBJECT_ID_PATTERN))
    deleted = fields.Boolean(required=True, validate=validate.Equal(True))


class RunQueuedSchema(Schema):
    jobId = fields.String(required=True, validate=validate.Regexp(OBJECT_ID_PATTERN))
    scheduledAt = IsoDateTime(required=True)


class SchedulePreviewSchema(Schema):
    schedule = fields.String(required=True, metadata={"description": "normalized"})
    timezone = fields.String(required=True)
    description = fields.String(
        required=True, allow_none=True,
        metadata={"description": "In English, from cron-descriptor; times are wall-clock "
                  "times in `timezone`. Null if the library cannot describe the schedule."},
    )  # fmt: skip
    nextRunTimes = fields.List(IsoDateTime(), required=True)


class SchedulerStatusSchema(Schema):
    class Meta:
        unknown = INCLUDE

    isRunning = fields.Boolean(required=True)
    runningJobs = fields.Integer(required=True)
    maxConcurrentJobs = fields.Integer(required=True)
    pollInterval = fields.Integer(required=True, metadata={"description": "ms"})


class SchedulerStatsSchema(SchedulerStatusSchema):
    skippedTicks = fields.Integer(required=True)


class ExecutionCountsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    total = fields.Integer(required=True)
    successful = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    running = fields.Integer(required=True)
    last24Hours = fields.Integer(required=True)


class JobCountsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    total = fields.Integer(required=True)
    enabled = fields.Integer(required=True)


class DeadLetterCountsSchema(Schema):
    total = fields.Integer(required=True)
    dead = fields.Integer(required=True, metadata={"description": "in state `dead`"})


class StatsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    executions = fields.Nested(ExecutionCountsSchema, required=True)
    scheduler = fields.Nested(SchedulerStatsSchema, required=True)
    jobs = fields.Nested(JobCountsSchema, required=True)
    deadLetters = fields.Nested(DeadLetterCountsSchema, required=True)


class DatabaseStatusSchema(Schema):
    class Meta:
        unknown = INCLUDE

    status = fields.String(required=True, validate=validate.OneOf(["connected", "disconnected"]))
    kind = fields.String(required=True)
    latencyMs = fields.Float(metadata={"description": "only while connected"})


class HealthSchema(Schema):
    """200: ``success`` true, ``status`` healthy. 503: false, unhealthy, and ``error``."""

    class Meta:
        unknown = INCLUDE

    success = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["healthy", "unhealthy"]))
    timestamp = IsoDateTime(required=True)
    database = fields.Nested(DatabaseStatusSchema, required=True)
    scheduler = fields.Nested(SchedulerStatusSchema, required=True)
    error = fields.Nested(ErrorSchema)


JobEnvelope = _success("JobEnvelope", fields.Nested(JobResponseSchema, required=True))
JobListEnvelope = _success(
    "JobListEnvelope",
    fields.List(fields.Nested(JobResponseSchema), required=True),
    pagination=fields.Nested(PaginationSchema, required=True),
)
ExecutionListEnvelope = _success(
    "ExecutionListEnvelope", fields.List(fields.Nested(ExecutionResponseSchema), required=True)
)
DeletedEnvelope = _success("DeletedEnvelope", fields.Nested(DeletedSchema, required=True))
RunQueuedEnvelope = _success("RunQueuedEnvelope", fields.Nested(RunQueuedSchema, required=True))
StatsEnvelope = _success("StatsEnvelope", fields.Nested(StatsSchema, required=True))
SchedulePreviewEnvelope = _success(
    "SchedulePreviewEnvelope", fields.Nested(SchedulePreviewSchema, required=True)
)

# Response schemas whose every member is always present (``dump_default`` fills gaps).
_ALWAYS_COMPLETE = (JobResponseSchema, ExecutionResponseSchema)


# -- field conversion beyond apispec's defaults --------------------------------------------


def _extra_attributes(self: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
    """The rules of this project's custom fields, and null where a response shows null."""
    extra: dict[str, Any] = {}
    if isinstance(field, ObjectIdString):
        extra["pattern"] = OBJECT_ID_PATTERN
    elif isinstance(field, Timezone):
        extra.update(pattern=TIMEZONE_PATTERN, maxLength=64, examples=TIMEZONE_EXAMPLES)
    elif isinstance(field, HttpUrl):
        extra.update(maxLength=MAX_URL_LENGTH, pattern=URL_PATTERN)
    elif isinstance(field, MaskedHeaders):
        extra["additionalProperties"] = {"type": "string"}
    elif isinstance(field, Headers):
        # marshmallow's Length on a dict counts its keys
        maximum = ret.pop("maxLength", None)
        extra.update(propertyNames={
            "pattern": "^" + header_rules.HEADER_NAME_RE.removesuffix(r"\Z") + "$",
            "maxLength": header_rules.MAX_HEADER_NAME_LENGTH,
            "not": {"pattern": REFUSED_HEADER_NAME_PATTERN},
        })  # fmt: skip
        if maximum is not None:
            extra["maxProperties"] = maximum
        values = dict(ret.get("additionalProperties") or {})
        values["pattern"] = HEADER_VALUE_PATTERN
        extra["additionalProperties"] = values
    # Response fields: a missing value renders as null.
    if field.dump_default is None and not field.allow_none and "type" in ret:
        types = ret["type"] if isinstance(ret["type"], list) else [ret["type"]]
        extra["type"] = [*types, "null"]
    return extra


def _build_plugin() -> MarshmallowPlugin:
    def resolver(schema: type[Schema] | Schema) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        return cls.__name__.removesuffix("Schema")

    return MarshmallowPlugin(schema_name_resolver=resolver)


# -- the document ----------------------------------------------------------------------------


def _json(schema: Any, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


_ERROR_DESCRIPTIONS = {
    400: "VALIDATION_ERROR: `details` maps each bad field (or `_schema`) to its messages",
    401: "UNAUTHORIZED: missing or wrong `Authorization: Bearer <key>`",
    404: "NOT_FOUND: no such job or dead letter (also for an id that is not 24 hex digits)",
    409: "CONFLICT: valid, but the resource's state forbids it",
    413: "PAYLOAD_TOO_LARGE: the body exceeds MAX_REQUEST_BYTES",
    414: "VALIDATION_ERROR: the request line is longer than the server takes",
    415: "UNSUPPORTED_MEDIA_TYPE: the body must be application/json",
    429: "RATE_LIMITED: too many requests; see Retry-After",
    500: "INTERNAL_ERROR: details are logged, never shown",
    503: "UNAVAILABLE: the database is unreachable or did not answer in time",
}


def _errors(*statuses: int) -> dict[str, Any]:
    responses = {}
    for status in statuses:
        headers = None
        if status in (429, 503):
            headers = {"Retry-After": {"schema": {"type": "string"}, "required": False}}
        responses[str(status)] = _json("ErrorEnvelope", _ERROR_DESCRIPTIONS[status], headers)
    return responses


# What a client can do next with the ``jobId`` that creation answers.
_JOB_LINKS = {
    name: {"operationId": name, "parameters": {"jobId": "$response.body#/data/jobId"}}
    for name in ("getJob", "updateJob", "deleteJob", "listExecutions", "runJob")
}

SCHEDULE_EXAMPLES = ["0 */5 * * * *", "*/30 * * * * *", "0 0 9 * * 1-5", "0 30 14 1 * *", "@hourly"]


def _common(protected: bool) -> tuple[int, ...]:
    """The errors any operation that needs the database may answer."""
    return (*((401,) if protected else ()), 414, 429, 500, 503)


def _operations(protected: bool) -> dict[str, dict[str, Any]]:
    """Path -> method -> operation, for every route of the API but dead letters'."""
    common = _common(protected)
    body_errors = (400, 413, 415)
    job_id = {
        "in": "path",
        "name": "jobId",
        "required": True,
        "description": "The job's id: 24 hex digits (anything else is a 404).",
        "schema": {"type": "string", "pattern": OBJECT_ID_PATTERN},
    }

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
                "requestBody": body(JobCreateSchema),
                "responses": {
                    "201": {
                        **_json(
                            "JobEnvelope",
                            "The job as stored",
                            {"Location": {"schema": {"type": "string"}, "required": True}},
                        ),
                        "links": _JOB_LINKS,
                    },
                    **_errors(*body_errors, *common),
                },
            },
            "get": {
                "operationId": "listJobs",
                "tags": ["jobs"],
                "summary": "List jobs, newest first",
                "parameters": [{"in": "query", "schema": PageQuerySchema}],
                "responses": {
                    "200": _json("JobListEnvelope", "One page of jobs"),
                    **_errors(400, *common),
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
                    "200": _json("JobEnvelope", "The job"),
                    **_errors(404, *common),
                },
            },
            "put": {
                "operationId": "updateJob",
                "tags": ["jobs"],
                "summary": "Change some of a job's fields",
                "description": "A new schedule or re-enabling recomputes `nextRunAt`. "
                + job_rules,
                "requestBody": body(JobUpdateSchema),
                "responses": {
                    "200": _json("JobEnvelope", "The job as updated"),
                    **_errors(*body_errors, 404, *common),
                },
            },
            "delete": {
                "operationId": "deleteJob",
                "tags": ["jobs"],
                "summary": "Delete a job; its executions stay in the history",
                "responses": {
                    "200": _json("DeletedEnvelope", "Deleted"),
                    **_errors(404, *common),
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
                    "200": _json("ExecutionListEnvelope", "Attempts"),
                    **_errors(400, 404, *common),
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
                "retry policy. The request body, if any, is ignored. A job has at most "
                f"{MAX_MANUAL_RUNS_IN_FLIGHT} manual runs queued or running; one more is a "
                "409 `CONFLICT`.",
                "responses": {
                    "202": _json("RunQueuedEnvelope", "Queued; `scheduledAt` is the tick"),
                    **_errors(404, 409, *common),
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
                    "200": _json("SchedulePreviewEnvelope", "The next fire times"),
                    **_errors(400, *common),
                },
            },
        },
        "/api/observability/health": {
            "get": {
                "operationId": "health",
                "tags": ["observability"],
                "summary": "Liveness and the database's state (never needs a key)",
                "responses": {
                    "200": _json("Health", "Healthy"),
                    "503": _json("Health", "Unhealthy: the database is down or hangs"),
                    **_errors(414, 429, 500),
                },
            },
        },
        "/api/observability/stats": {
            "get": {
                "operationId": "stats",
                "tags": ["observability"],
                "summary": "Execution, scheduler and job counts",
                "responses": {
                    "200": _json("StatsEnvelope", "Counts"),
                    **_errors(*common),
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
                    "200": _json("ExecutionListEnvelope", "Failed attempts"),
                    **_errors(400, *common),
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
                    **_errors(414, 429, 500),
                },
            },
        },
    }


def _metrics_operation() -> dict[str, Any]:
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
                **_errors(414, 429, 500),
            },
        },
    }


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as a dict."""
    plugin = _build_plugin()
    spec = APISpec(
        title="scheduler-service",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": "A self-hosted HTTP job scheduler. JSON in, JSON out; every "
            "failure is `{success: false, error: {code, message, details}}`. Times are "
            "UTC ISO 8601 with milliseconds."
        },
    )
    plugin.converter.add_attribute_function(_extra_attributes)
    plugin.map_to_openapi_type(IsoDateTime, "string", "date-time")
    plugin.map_to_openapi_type(ObjectIdString, "string", None)
    plugin.map_to_openapi_type(MaskedHeaders, "object", None)
    plugin.map_to_openapi_type(HttpUrl, "string", "uri")
    plugin.map_to_openapi_type(InstantInput, "string", "date-time")

    protected = bool(getattr(get_runtime(app).config, "api_keys", ()))
    if protected:
        spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("ErrorEnvelope", schema=ErrorEnvelopeSchema)
    for name, schema in (
        ("JobEnvelope", JobEnvelope),
        ("JobListEnvelope", JobListEnvelope),
        ("ExecutionListEnvelope", ExecutionListEnvelope),
        ("DeletedEnvelope", DeletedEnvelope),
        ("RunQueuedEnvelope", RunQueuedEnvelope),
        ("StatsEnvelope", StatsEnvelope),
        ("SchedulePreviewEnvelope", SchedulePreviewEnvelope),
        ("Health", HealthSchema),
    ):
        spec.components.schema(name, schema=schema)

    from scheduler_service.api import openapi_dead_letters as dead_letters

    dead_letters.register_schemas(spec, PaginationSchema)
    open_paths = {"/api/observability/health", SPEC_PATH}
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    paths = {**_operations(protected), **dead_letters.operations(_common(protected))}
    if "/metrics" in routes:
        paths["/metrics"] = _metrics_operation()
    for path, operations in paths.items():
        parameters = operations.pop("parameters", None)
        if protected and path not in open_paths and path.startswith("/api/"):
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
        spec.path(path=path, operations=operations, parameters=parameters)

    document = spec.to_dict()
    _finish(document)
    dead_letters.finish(document)
    return document


def _finish(document: dict[str, Any]) -> None:
    """What apispec cannot infer from the schemas."""
    schemas = document["components"]["schemas"]
    for cls in _ALWAYS_COMPLETE:
        component = schemas[cls.__name__.removesuffix("Schema")]
        component["required"] = list(component["properties"])
    schemas["JobUpdate"]["minProperties"] = 1
    for name in ("JobCreate", "JobUpdate"):
        properties = schemas[name]["properties"]
        properties["schedule"]["description"] = (
            "Cron with seconds first (6 fields), or the classic 5 fields (second 0); "
            "@hourly/@daily/@weekly/@monthly/@yearly. Must be able to fire."
        )
        properties["schedule"]["examples"] = SCHEDULE_EXAMPLES
        properties["endpoint"]["examples"] = ["https://api.example.com/webhook"]


@openapi_api.get(SPEC_PATH)
def openapi_json() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    document = app.extensions.get(_EXTENSION_KEY)
    if document is None:
        document = app.extensions[_EXTENSION_KEY] = build_spec(app)
    return jsonify(document)
