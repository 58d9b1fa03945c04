"""Job request validation (create, update) and the job representation."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler_service.config import Config
from scheduler_service.records import (
    DEFAULT_CONCURRENCY_POLICY,
    DEFAULT_EXECUTION_TYPE,
    DEFAULT_METHOD,
    DEFAULT_MISSED_RUN_POLICY,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEZONE,
    MAX_PRIORITY,
    METHODS,
    MIN_PRIORITY,
    ConcurrencyPolicy,
    ExecutionType,
    MissedRunPolicy,
)
from scheduler_service.schemas.fields import (
    Headers,
    HttpUrl,
    InstantInput,
    IsoDateTime,
    JobBody,
    JobIdList,
    MaskedHeaders,
    MaskedSecret,
    MaskedUrl,
    ObjectIdString,
    Schedule,
    SigningSecret,
    StrictBoolean,
    Tags,
    Timezone,
    UpperString,
)

EXECUTION_TYPES = tuple(kind.value for kind in ExecutionType)
CONCURRENCY_POLICIES = tuple(policy.value for policy in ConcurrencyPolicy)
MISSED_RUN_POLICIES = tuple(policy.value for policy in MissedRunPolicy)
# A job's own retry settings have the bounds of the defaults it would otherwise get.
RETRY_ATTEMPTS_BOUNDS = Config.bounds_of("job_retry_attempts")
RETRY_DELAY_BOUNDS = Config.bounds_of("job_retry_delay_ms")
RETRY_DELAY_MAX_BOUNDS = Config.bounds_of("job_retry_delay_max_ms")
# At most JOB_TIMEOUT, which the service checks (it depends on the configuration).
TIMEOUT_BOUNDS = (1000, Config.bounds_of("job_timeout_ms")[1])
MAX_JITTER_MS = 3_600_000
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_TAGS = 20
MAX_CHAINED = 10  # jobs in onSuccess, and in onFailure
_WINDOW_FIELDS = ("schedule", "runAt", "startAt", "endAt")


# One constructor per field, so create and update share every rule and differ only in
# ``required`` / ``load_default``.
def _method(**kwargs: Any) -> fields.Field:
    return UpperString(validate=validate.OneOf(METHODS), **kwargs)


def _choice(choices: tuple[str, ...], **kwargs: Any) -> fields.Field:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def _retry_attempts() -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(*RETRY_ATTEMPTS_BOUNDS))


def _retry_delay() -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(*RETRY_DELAY_BOUNDS))


def _retry_delay_max() -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(*RETRY_DELAY_MAX_BOUNDS))


def _timeout() -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(*TIMEOUT_BOUNDS))


def _jitter() -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(0, MAX_JITTER_MS))


def _priority(**kwargs: Any) -> fields.Field:
    return fields.Integer(strict=True, validate=validate.Range(MIN_PRIORITY, MAX_PRIORITY),
                          **kwargs)  # fmt: skip


def _name() -> fields.Field:
    return fields.String(validate=validate.Length(1, MAX_NAME))


def _description() -> fields.Field:
    return fields.String(validate=validate.Length(max=MAX_DESCRIPTION))


def _tags() -> fields.Field:
    return Tags(validate=validate.Length(max=MAX_TAGS,
                error=f"At most {MAX_TAGS} tags are allowed."))  # fmt: skip


def _chained() -> fields.Field:
    return JobIdList(MAX_CHAINED, metadata={"description": (
        "Ids of other jobs, each run once (as POST /api/jobs/{jobId}/run would) when a tick "
        "of this job succeeds for good (onSuccess; a replayed dead letter too) or is "
        "dead-lettered (onFailure). Every id must name an existing job other than this "
        "one, and no chain may lead back to this job: otherwise a 400 naming the field "
        "(and the cycle)."
    )})  # fmt: skip


def check_window(data: dict[str, Any]) -> None:
    """Exactly one of ``schedule`` and ``runAt``; ``startAt``/``endAt`` bound a schedule,
    ``endAt`` after ``startAt``. ``data``: a whole job's fields (an update merged in)."""
    errors: dict[str, list[str]] = {}
    if (data.get("schedule") is None) == (data.get("runAt") is None):
        message = "Give exactly one of schedule and runAt."
        errors = {"schedule": [message], "runAt": [message]}
    elif data.get("runAt") is not None:
        for name in ("startAt", "endAt"):
            if data.get(name) is not None:
                errors[name] = ["Only a schedule takes a window; a runAt job has one tick."]
    start, end = data.get("startAt"), data.get("endAt")
    if start is not None and end is not None and end <= start:
        errors.setdefault("endAt", []).append("Must be after startAt.")
    if errors:
        raise ValidationError(errors)


class JobCreateSchema(Schema):
    """``POST /api/jobs``. retryAttempts, retryDelay, retryDelayMax and timeoutMs have no
    default here: the service fills them from configuration; nor has name: the service
    makes it from the endpoint."""

    schedule = Schedule()
    runAt = InstantInput()
    timezone = Timezone(load_default=DEFAULT_TIMEZONE)
    jitterMs = _jitter()
    startAt = InstantInput()
    endAt = InstantInput()
    name = _name()
    description = _description()
    tags = _tags()
    endpoint = HttpUrl(required=True)
    method = _method(load_default=DEFAULT_METHOD)
    headers = Headers(load_default=dict)
    body = JobBody(allow_none=True, load_default=None)
    executionType = _choice(EXECUTION_TYPES, load_default=DEFAULT_EXECUTION_TYPE.value)
    enabled = StrictBoolean(load_default=True)
    retryAttempts = _retry_attempts()
    retryDelay = _retry_delay()
    retryDelayMax = _retry_delay_max()
    timeoutMs = _timeout()
    concurrencyPolicy = _choice(CONCURRENCY_POLICIES, load_default=DEFAULT_CONCURRENCY_POLICY.value)
    missedRunPolicy = _choice(MISSED_RUN_POLICIES, load_default=DEFAULT_MISSED_RUN_POLICY.value)
    alertEndpoint = HttpUrl(allow_none=True)
    signingSecret = SigningSecret(allow_none=True)
    onSuccess = _chained()
    onFailure = _chained()
    priority = _priority(load_default=DEFAULT_PRIORITY)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _window(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict):
            return
        if "schedule" not in original and "runAt" not in original:
            raise ValidationError({"schedule": ["Missing data for required field (or give "
                                                "runAt for a one-off)."]})  # fmt: skip
        if any(name in original and name not in data for name in _WINDOW_FIELDS):
            return  # a field already failed on its own
        check_window(data)


class RunJobSchema(Schema):
    """``POST /api/jobs/:jobId/run``: no body, or ``{}``; it has no fields yet, so any field
    is unknown (a 400) rather than silently ignored."""


class JobUpdateSchema(Schema):
    """``PUT /api/jobs/:jobId``: a partial update; only the fields given are returned.
    ``schedule``/``runAt`` may be null to switch a job between the two; ``startAt`` and
    ``endAt`` null to drop them. The job as updated is checked (``check_window``) by the
    service."""

    schedule = Schedule(allow_none=True)
    runAt = InstantInput(allow_none=True)
    timezone = Timezone()
    jitterMs = _jitter()
    startAt = InstantInput(allow_none=True)
    endAt = InstantInput(allow_none=True)
    name = _name()
    description = _description()
    tags = _tags()
    endpoint = HttpUrl()
    method = _method()
    headers = Headers()
    body = JobBody(allow_none=True)
    executionType = _choice(EXECUTION_TYPES)
    enabled = StrictBoolean()
    retryAttempts = _retry_attempts()
    retryDelay = _retry_delay()
    retryDelayMax = _retry_delay_max()
    timeoutMs = _timeout()
    concurrencyPolicy = _choice(CONCURRENCY_POLICIES)
    missedRunPolicy = _choice(MISSED_RUN_POLICIES)
    alertEndpoint = HttpUrl(allow_none=True)
    signingSecret = SigningSecret(allow_none=True)
    onSuccess = _chained()
    onFailure = _chained()
    priority = _priority()

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("At least one field is required.")


class JobResponseSchema(Schema):
    """A stored job as the API shows it; internal keys (inflight, ...) are not output."""

    jobId = ObjectIdString(attribute="_id", dump_default=None)
    name = fields.String(dump_default=None)
    description = fields.String(dump_default=None)
    tags = fields.List(fields.String(), dump_default=list)
    schedule = fields.String(dump_default=None)
    runAt = IsoDateTime(dump_default=None)
    timezone = fields.String(dump_default=None)
    jitterMs = fields.Integer(dump_default=None)
    startAt = IsoDateTime(dump_default=None)
    endAt = IsoDateTime(dump_default=None)
    endpoint = MaskedUrl(dump_default=None)
    method = fields.String(dump_default=None)
    headers = MaskedHeaders(dump_default=dict)
    body = fields.Raw(dump_default=None)
    executionType = fields.String(dump_default=None)
    enabled = fields.Boolean(dump_default=None)
    retryAttempts = fields.Integer(dump_default=None)
    retryDelay = fields.Integer(dump_default=None)
    retryDelayMax = fields.Integer(dump_default=None)
    timeoutMs = fields.Integer(dump_default=None)
    concurrencyPolicy = fields.String(dump_default=None)
    missedRunPolicy = fields.String(dump_default=None)
    alertEndpoint = MaskedUrl(dump_default=None)
    signingSecret = MaskedSecret(dump_default=None)
    onSuccess = fields.List(ObjectIdString(), dump_default=list)
    onFailure = fields.List(ObjectIdString(), dump_default=list)
    priority = fields.Integer(dump_default=DEFAULT_PRIORITY)
    nextRunAt = IsoDateTime(dump_default=None)
    lastRunAt = IsoDateTime(dump_default=None)
    createdAt = IsoDateTime(dump_default=None)
    updatedAt = IsoDateTime(dump_default=None)
