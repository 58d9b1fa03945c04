"""``GET /api/openapi.json``: an OpenAPI 3.1 description of the API, built from the
marshmallow schemas the API really uses (apispec + MarshmallowPlugin).

The components are in :mod:`openapi_schemas`, the paths in :mod:`openapi_paths`; this
module puts them together and serves the result. What JSON Schema cannot say is said in
prose: a schedule must be a cron expression that can fire, so a body that matches the
schema may still be a 400.

The document describes the running app: ``401`` and the bearer security scheme appear
when ``API_KEYS`` is set (without keys nothing answers 401), and ``/metrics`` when the app
serves it. It is built once per app, on first request.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, jsonify

from scheduler_service.api import openapi_dead_letters as dead_letters
from scheduler_service.api.auth import OPEN_PATHS
from scheduler_service.api.openapi_paths import (
    SCHEDULE_EXAMPLES,
    SPEC_PATH,
    all_operations,
    common_errors,
    metrics_operation,
)
from scheduler_service.api.openapi_schemas import (
    ALWAYS_COMPLETE,
    DeletedEnvelope,
    ErrorEnvelopeSchema,
    ExecutionListEnvelope,
    HealthSchema,
    JobEnvelope,
    JobListEnvelope,
    PaginationSchema,
    RunQueuedEnvelope,
    SchedulePreviewEnvelope,
    StatsEnvelope,
    build_plugin,
    describe_custom_fields,
)
from scheduler_service.delivery.signing import SECRET_PATTERN
from scheduler_service.runtime import get_runtime
from scheduler_service.version import __version__

openapi_api = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
_EXTENSION_KEY = "openapi_spec"


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as a dict."""
    plugin = build_plugin()
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
    describe_custom_fields(plugin)

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

    dead_letters.register_schemas(spec, PaginationSchema)
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    paths = {**all_operations(protected), **dead_letters.operations(common_errors(protected))}
    if "/metrics" in routes:
        paths["/metrics"] = metrics_operation()
    for path, operations in paths.items():
        parameters = operations.pop("parameters", None)
        if protected and path not in OPEN_PATHS and path.startswith("/api/"):
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
    for cls in ALWAYS_COMPLETE:
        component = schemas[cls.__name__.removesuffix("Schema")]
        component["required"] = list(component["properties"])
    schemas["JobUpdate"]["minProperties"] = 1
    schemas["JobCreate"]["oneOf"] = [{"required": ["schedule"]}, {"required": ["runAt"]}]
    for name in ("JobCreate", "JobUpdate"):
        properties = schemas[name]["properties"]
        properties["runAt"]["description"] = (
            "A one-off: the job fires once at this time (instead of a schedule), then stays "
            "with enabled false and nextRunAt null. In the past: a 400 unless ?allowPast=true "
            "(then it fires now).")
        properties["timezone"]["description"] = (
            "IANA zone the schedule is read in; DST by ISC cron's rule (see the README).")
        properties["jitterMs"]["description"] = (
            "Each tick starts up to this many ms after its time, the same delay on every "
            "process; scheduledAt keeps the tick's time.")
        properties["startAt"]["description"] = "No tick before this time."
        properties["endAt"]["description"] = (
            "No tick after this time; the claim of the last tick disables the job.")
        properties["priority"]["description"] = (
            "1 to 10, higher first: when more ticks are due than a process has free "
            "workers, it starts them by priority, then oldest first (default 5).")
    for name in ("JobCreate", "JobUpdate"):
        properties = schemas[name]["properties"]
        properties["schedule"]["description"] = (
            "Cron with seconds first (6 fields), or the classic 5 fields (second 0); "
            "@hourly/@daily/@weekly/@monthly/@yearly. Must be able to fire."
        )
        properties["schedule"]["examples"] = SCHEDULE_EXAMPLES
        properties["endpoint"]["examples"] = ["https://api.example.com/webhook"]
        properties["signingSecret"].update(
            pattern=SECRET_PATTERN, examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            description="Standard Webhooks secret (24 to 64 bytes); replaces "
                        "WEBHOOK_SIGNING_KEYS for this job; shown as ***; null: none.")


@openapi_api.get(SPEC_PATH)
def openapi_json() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    document = app.extensions.get(_EXTENSION_KEY)
    if document is None:
        document = app.extensions[_EXTENSION_KEY] = build_spec(app)
    return jsonify(document)
