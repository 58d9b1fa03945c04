"""marshmallow schemas: request validation and response shaping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from scheduler_service.delivery.masking import is_secret_header, mask_headers
from scheduler_service.errors import InvalidInput
from scheduler_service.schemas.executions import ExecutionResponseSchema
from scheduler_service.schemas.jobs import JobCreateSchema, JobResponseSchema, JobUpdateSchema
from scheduler_service.schemas.query import LimitQuerySchema, PageQuerySchema

__all__ = [
    "ExecutionResponseSchema",
    "JobCreateSchema",
    "JobResponseSchema",
    "JobUpdateSchema",
    "LimitQuerySchema",
    "PageQuerySchema",
    "is_secret_header",
    "load_or_raise",
    "mask_headers",
]


def load_or_raise(schema: Schema, data: object) -> dict[str, Any]:
    """``schema.load(data)``, with every failure as ``InvalidInput`` (a 400 naming fields)."""
    if not isinstance(data, Mapping):
        message = "Expected a JSON object"
        raise InvalidInput(f"Invalid request: {message.lower()}", details={"_schema": [message]})
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        fields = ", ".join(sorted(str(name) for name in messages))
        raise InvalidInput(f"Invalid request: check {fields}", details=messages) from err
    return loaded
