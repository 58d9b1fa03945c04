"""Dead letters: the list's query, the bulk replay's body, and the representation."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler_service.dead_letter import DeadLetterState
from scheduler_service.schemas.fields import IsoDateTime, MaskedUrl, ObjectIdString
from scheduler_service.schemas.query import PageQuerySchema

MAX_BULK_REPLAY = 1000
OBJECT_ID_RE = r"[0-9a-fA-F]{24}\Z"
STATES = tuple(state.value for state in DeadLetterState)


def _object_id(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Regexp(OBJECT_ID_RE, error="Not a valid id (24 hex digits)."),
        **kwargs,
    )


class DeadLetterQuerySchema(PageQuerySchema):
    """``?page=&limit=&jobId=&state=``."""

    jobId = _object_id()
    state = fields.String(validate=validate.OneOf(STATES))


class ReplaySchema(Schema):
    """``POST /api/dead-letters/:id/replay``: no body, or ``{}``; it has no fields yet, so
    any field is unknown (a 400)."""


class BulkReplaySchema(Schema):
    """``POST /api/dead-letters/replay``: ``jobId`` or ``ids`` (1 to 1,000), not both."""

    jobId = _object_id()
    ids = fields.List(_object_id(), validate=validate.Length(1, MAX_BULK_REPLAY))

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("jobId" in data) == ("ids" in data):
            raise ValidationError("Give exactly one of jobId and ids.")


class LastAttemptSchema(Schema):
    status = fields.String(dump_default=None)
    attempt = fields.Integer(dump_default=None)
    responseCode = fields.Integer(attribute="response_code", dump_default=None)
    errorMessage = fields.String(attribute="error_message", dump_default=None)
    responseBody = fields.String(attribute="response_body", dump_default=None)
    startedAt = IsoDateTime(attribute="started_at", dump_default=None)
    completedAt = IsoDateTime(attribute="completed_at", dump_default=None)


class SentRequestSchema(Schema):
    """Header values were masked when the dead letter was written (all but the
    ``Idempotency-Key``, which names the tick and is no secret)."""

    method = fields.String(dump_default=None)
    url = MaskedUrl(dump_default=None)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), dump_default=dict)
    body = fields.Raw(dump_default=None)


class AlertStatusSchema(Schema):
    state = fields.String(dump_default=None)
    tries = fields.Integer(dump_default=None)


class DeadLetterResponseSchema(Schema):
    """A ``DeadLetter`` as the API, the CLI and alerts show it."""

    deadLetterId = ObjectIdString(attribute="id", dump_default=None)
    jobId = ObjectIdString(attribute="job_id", dump_default=None)
    name = fields.String(dump_default=None)
    scheduledAt = IsoDateTime(attribute="scheduled_at", dump_default=None)
    idempotencyKey = fields.String(attribute="idempotency_key", dump_default=None)
    attempts = fields.Integer(dump_default=None)
    lastAttempt = fields.Nested(LastAttemptSchema, attribute="last_attempt", dump_default=None)
    request = fields.Nested(SentRequestSchema, dump_default=None)
    reason = fields.String(dump_default=None)
    state = fields.String(dump_default=None)
    alert = fields.Nested(AlertStatusSchema, dump_default=None)
    createdAt = IsoDateTime(attribute="created_at", dump_default=None)
    updatedAt = IsoDateTime(attribute="updated_at", dump_default=None)


class BulkReplayResultSchema(Schema):
    queued = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
