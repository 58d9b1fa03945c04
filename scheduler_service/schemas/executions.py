"""The execution representation: one attempt of one tick."""

from __future__ import annotations

from marshmallow import Schema, fields

from scheduler_service.schemas.fields import IsoDateTime, ObjectIdString


class TriggeredBySchema(Schema):
    """The parent's tick that triggered a chained run."""

    jobId = ObjectIdString(dump_default=None)
    scheduledAt = IsoDateTime(dump_default=None)


class ExecutionResponseSchema(Schema):
    """A ``job_executions`` document as the API shows it; missing keys render as null."""

    id = ObjectIdString(attribute="_id", data_key="_id", dump_default=None)
    jobId = ObjectIdString(dump_default=None)
    status = fields.String(dump_default=None)
    startedAt = IsoDateTime(dump_default=None)
    completedAt = IsoDateTime(dump_default=None)
    duration = fields.Integer(dump_default=None)
    responseCode = fields.Integer(dump_default=None)
    responseBody = fields.String(dump_default=None)
    errorMessage = fields.String(dump_default=None)
    attempt = fields.Integer(dump_default=None)
    scheduledAt = IsoDateTime(dump_default=None)
    # The attempt's verdict on its tick: the wait chosen before the next attempt (backoff
    # or Retry-After, within retryDelayMax; null when none follows), or dead-lettered.
    nextRetryDelay = fields.Integer(dump_default=None)
    deadLettered = fields.Boolean(dump_default=False)
    # A chained run's attempt: the parent's tick that triggered it; null otherwise.
    triggeredBy = fields.Nested(TriggeredBySchema, dump_default=None, allow_none=True,
                                metadata={"description": "A chained run's attempt: the "
                                          "parent's tick that triggered it. Null otherwise."})
