"""The OpenAPI description of ``/api/dead-letters`` (merged into the document by
``openapi.build_spec``), built from the schemas the blueprint really uses."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from marshmallow import Schema, fields, validate

from scheduler_service.api.openapi_paths import error_responses, id_parameter, json_response
from scheduler_service.api.openapi_schemas import OBJECT_ID_PATTERN, envelope
from scheduler_service.schemas.dead_letters import (
    BulkReplayResultSchema,
    BulkReplaySchema,
    DeadLetterQuerySchema,
    DeadLetterResponseSchema,
    LastAttemptSchema,
    ReplaySchema,
    SentRequestSchema,
)


class DeadLetterDeletedSchema(Schema):
    deadLetterId = fields.String(required=True, validate=validate.Regexp(OBJECT_ID_PATTERN))
    deleted = fields.Boolean(required=True, validate=validate.Equal(True))


def register_schemas(spec: APISpec, pagination: type[Schema]) -> None:
    envelopes = {
        "DeadLetterEnvelope": envelope(
            "DeadLetterEnvelope", fields.Nested(DeadLetterResponseSchema, required=True)),
        "DeadLetterListEnvelope": envelope(
            "DeadLetterListEnvelope",
            fields.List(fields.Nested(DeadLetterResponseSchema), required=True),
            pagination=fields.Nested(pagination, required=True)),
        "DeadLetterDeletedEnvelope": envelope(
            "DeadLetterDeletedEnvelope", fields.Nested(DeadLetterDeletedSchema, required=True)),
        "BulkReplayEnvelope": envelope(
            "BulkReplayEnvelope", fields.Nested(BulkReplayResultSchema, required=True)),
    }  # fmt: skip
    for name, schema in envelopes.items():
        spec.components.schema(name, schema=schema)


def finish(document: dict[str, Any]) -> None:
    """Every member of a dead letter is always present (null where there is no value)."""
    schemas = document["components"]["schemas"]
    for cls in (DeadLetterResponseSchema, LastAttemptSchema, SentRequestSchema):
        component = schemas[cls.__name__.removesuffix("Schema")]
        component["required"] = list(component["properties"])
    schemas["BulkReplay"]["description"] = "Exactly one of `jobId` and `ids`."
    schemas["BulkReplay"]["oneOf"] = [{"required": ["jobId"]}, {"required": ["ids"]}]


def operations(common: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    dead_letter_id = id_parameter("deadLetterId", "dead letter")
    replay_rules = (
        "One new delivery of the same tick (same `Idempotency-Key` and "
        "`X-Scheduler-Scheduled-At`, attempt numbers continuing after the last one) with the "
        "job's current definition and retry policy. 409 `CONFLICT` if the job was deleted, "
        "or the dead letter is being replayed or was replayed successfully."
    )
    return {
        "/api/dead-letters": {
            "get": {
                "operationId": "listDeadLetters",
                "tags": ["dead letters"],
                "summary": "Ticks that failed for good, newest first",
                "parameters": [{"in": "query", "schema": DeadLetterQuerySchema}],
                "responses": {
                    "200": json_response("DeadLetterListEnvelope", "One page of dead letters"),
                    **error_responses(400, *common),
                },
            },
        },
        "/api/dead-letters/replay": {
            "post": {
                "operationId": "replayDeadLetters",
                "tags": ["dead letters"],
                "summary": "Replay the dead letters of a job, or up to 1,000 by id",
                "description": "Dead letters that cannot be replayed now (being replayed, "
                "replayed, unknown, or of a deleted job) are skipped and counted. A `jobId` "
                "of a deleted job is a 409; one of which nothing is known (no job, no dead "
                "letters) a 404 `NOT_FOUND`. " + replay_rules,
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": BulkReplaySchema}}},
                "responses": {
                    "202": json_response(
                        "BulkReplayEnvelope", "Queued; how many, and how many not"),
                    **error_responses(400, 404, 409, 413, 415, *common),
                },
            },
        },
        "/api/dead-letters/{deadLetterId}": {
            "parameters": [dead_letter_id],
            "get": {
                "operationId": "getDeadLetter",
                "tags": ["dead letters"],
                "summary": "One dead letter",
                "responses": {
                    "200": json_response("DeadLetterEnvelope", "The dead letter"),
                    **error_responses(404, *common),
                },
            },
            "delete": {
                "operationId": "deleteDeadLetter",
                "tags": ["dead letters"],
                "summary": "Delete a dead letter (its executions stay in the history)",
                "description": "409 `CONFLICT` while its replay is in flight (`replaying`); "
                "once the replay ends, or if it was lost, it may be deleted.",
                "responses": {
                    "200": json_response("DeadLetterDeletedEnvelope", "Deleted"),
                    **error_responses(404, 409, *common),
                },
            },
        },
        "/api/dead-letters/{deadLetterId}/replay": {
            "parameters": [dead_letter_id],
            "post": {
                "operationId": "replayDeadLetter",
                "tags": ["dead letters"],
                "summary": "Replay one dead letter",
                "description": replay_rules + " No request body, or an empty JSON object: "
                "any field is a 400, a body that is not JSON a 415.",
                "requestBody": {"required": False, "content": {
                    "application/json": {"schema": ReplaySchema}}},
                "responses": {
                    "202": json_response(
                        "DeadLetterEnvelope", "Queued; the dead letter is `replaying`"),
                    **error_responses(400, 404, 409, 413, 415, *common),
                },
            },
        },
    }  # fmt: skip
