"""The components of the OpenAPI document: the envelopes around the API's schemas, and how
this project's custom marshmallow fields are described.

Request bodies and query parameters come from ``schemas/`` as they are; the envelopes
(``{"success": true, "data": ...}`` and the contract's error object) are described here.
"""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import INCLUDE, Schema, fields, validate

from scheduler_service.api.errors import answered_codes
from scheduler_service.schemas import ExecutionResponseSchema, JobResponseSchema
from scheduler_service.schemas import headers as header_rules
from scheduler_service.schemas.fields import (
    MAX_URL_LENGTH,
    TAG_RE,
    Headers,
    HttpUrl,
    InstantInput,
    IsoDateTime,
    MaskedHeaders,
    MaskedUrl,
    ObjectIdString,
    Tag,
    Timezone,
)

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


class _OpenSchema(Schema):
    """A response object that may gain members: clients must accept unknown ones."""

    class Meta:
        unknown = INCLUDE


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


class JobPaginationSchema(PaginationSchema):
    totalExact = fields.Boolean(required=True, metadata={
        "description": "false: `total` is an estimate (a `q`, two tags, or a tag with "
        "`enabled`: the share of the jobs read that matched, times the jobs of the index "
        "range read); exact otherwise, kept as jobs change"})
    complete = fields.Boolean(required=True, metadata={
        "description": "false: the page stopped early (it read as many jobs as one request "
        "may while checking `q` or a second filter); `nextCursor` goes on from there"})
    nextCursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Pass as `cursor` (same tag, enabled, q and sort) for the next page; "
        "null when no job is left"})


def envelope(name: str, data: fields.Field, **extra: fields.Field) -> type[Schema]:
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


class SchedulerStatusSchema(_OpenSchema):
    isRunning = fields.Boolean(required=True)
    runningJobs = fields.Integer(required=True)
    maxConcurrentJobs = fields.Integer(required=True)
    pollInterval = fields.Integer(required=True, metadata={"description": "ms"})


class SchedulerStatsSchema(SchedulerStatusSchema):
    skippedTicks = fields.Integer(required=True)


class ExecutionCountsSchema(_OpenSchema):
    total = fields.Integer(required=True)
    successful = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    running = fields.Integer(required=True)
    last24Hours = fields.Integer(required=True)


class JobCountsSchema(_OpenSchema):
    total = fields.Integer(required=True)
    enabled = fields.Integer(required=True)


class DeadLetterCountsSchema(Schema):
    total = fields.Integer(required=True)
    dead = fields.Integer(required=True, metadata={"description": "in state `dead`"})


class StatsSchema(_OpenSchema):
    executions = fields.Nested(ExecutionCountsSchema, required=True)
    scheduler = fields.Nested(SchedulerStatsSchema, required=True)
    jobs = fields.Nested(JobCountsSchema, required=True)
    deadLetters = fields.Nested(DeadLetterCountsSchema, required=True)


class DatabaseStatusSchema(_OpenSchema):
    status = fields.String(required=True, validate=validate.OneOf(["connected", "disconnected"]))
    kind = fields.String(required=True)
    latencyMs = fields.Float(metadata={"description": "only while connected"})


class ClockStatusSchema(_OpenSchema):
    """This process's clock against the database server's, which it schedules by."""

    offsetMs = fields.Integer(required=True, metadata={"description": "database - this machine"})
    errorMs = fields.Integer(required=True, metadata={"description": "half the round trip"})
    boundMs = fields.Integer(required=True, metadata={"description": "MAX_CLOCK_SKEW"})
    skewed = fields.Boolean(required=True, metadata={"description": "offset beyond the bound"})
    measured = fields.Boolean(required=True, metadata={"description": "false: not yet measured"})


class HealthSchema(_OpenSchema):
    """200: ``success`` true, ``status`` healthy. 503: false, unhealthy, and ``error``."""

    success = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["healthy", "unhealthy"]))
    timestamp = IsoDateTime(required=True)
    database = fields.Nested(DatabaseStatusSchema, required=True)
    scheduler = fields.Nested(SchedulerStatusSchema, required=True)
    clock = fields.Nested(ClockStatusSchema)
    error = fields.Nested(ErrorSchema)


JobEnvelope = envelope("JobEnvelope", fields.Nested(JobResponseSchema, required=True))
JobListEnvelope = envelope(
    "JobListEnvelope",
    fields.List(fields.Nested(JobResponseSchema), required=True),
    pagination=fields.Nested(JobPaginationSchema, required=True),
)
ExecutionListEnvelope = envelope(
    "ExecutionListEnvelope", fields.List(fields.Nested(ExecutionResponseSchema), required=True)
)
DeletedEnvelope = envelope("DeletedEnvelope", fields.Nested(DeletedSchema, required=True))
RunQueuedEnvelope = envelope("RunQueuedEnvelope", fields.Nested(RunQueuedSchema, required=True))
StatsEnvelope = envelope("StatsEnvelope", fields.Nested(StatsSchema, required=True))
SchedulePreviewEnvelope = envelope(
    "SchedulePreviewEnvelope", fields.Nested(SchedulePreviewSchema, required=True)
)

# Response schemas whose every member is always present (``dump_default`` fills gaps).
ALWAYS_COMPLETE = (JobResponseSchema, ExecutionResponseSchema)


# -- field conversion beyond apispec's defaults --------------------------------------------


def _extra_attributes(self: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
    """The rules of this project's custom fields, and null where a response shows null."""
    extra: dict[str, Any] = {}
    if isinstance(field, ObjectIdString):
        extra["pattern"] = OBJECT_ID_PATTERN
    elif isinstance(field, Tag):
        extra["pattern"] = "^" + TAG_RE.removesuffix(r"\Z") + "$"
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
    # A validator's Python pattern ``...\Z`` (matched from the start) as the same anchored
    # JSON Schema pattern (which is searched anywhere, and ECMA 262 has no ``\Z``).
    pattern = ret.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("\\Z") and not pattern.startswith("^"):
        extra["pattern"] = "^" + pattern.removesuffix("\\Z") + "$"
    # Response fields: a missing value renders as null.
    if field.dump_default is None and not field.allow_none and "type" in ret:
        types = ret["type"] if isinstance(ret["type"], list) else [ret["type"]]
        extra["type"] = [*types, "null"]
    return extra


def build_plugin() -> MarshmallowPlugin:
    def resolver(schema: type[Schema] | Schema) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        return cls.__name__.removesuffix("Schema")

    return MarshmallowPlugin(schema_name_resolver=resolver)


def describe_custom_fields(plugin: MarshmallowPlugin) -> None:
    """Teach ``plugin`` (once attached to its APISpec) this project's custom fields."""
    assert plugin.converter is not None
    plugin.converter.add_attribute_function(_extra_attributes)
    plugin.map_to_openapi_type(IsoDateTime, "string", "date-time")
    plugin.map_to_openapi_type(ObjectIdString, "string", None)
    plugin.map_to_openapi_type(MaskedHeaders, "object", None)
    plugin.map_to_openapi_type(MaskedUrl, "string", None)
    plugin.map_to_openapi_type(HttpUrl, "string", "uri")
    plugin.map_to_openapi_type(InstantInput, "string", "date-time")
