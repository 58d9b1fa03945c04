"""``/api/dead-letters``: list, get, delete, replay one, replay many.

Each view is request -> schema -> ``DeadLetterService`` -> representation; errors are
raised and left to ``api/errors.py``.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from scheduler_service.api.body import json_body, optional_json_body
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import load_or_raise
from scheduler_service.schemas.dead_letters import (
    BulkReplaySchema,
    DeadLetterQuerySchema,
    DeadLetterResponseSchema,
    ReplaySchema,
)
from scheduler_service.services.dead_letter_service import DeadLetterService

dead_letters_api = Blueprint("dead_letters", __name__, url_prefix="/api/dead-letters")


class ObjectIdConverter(BaseConverter):
    """A path segment of 24 hex digits: ``/api/dead-letters/replay`` is then only the bulk
    replay (POST), so its ``Allow`` header is what the OpenAPI document says. Any other
    segment there is the router's 404, as the contract wants for a malformed id."""

    regex = "[0-9a-fA-F]{24}"


@dead_letters_api.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    """Before the routes below: each rule is compiled as the blueprint is registered."""
    state.app.url_map.converters["objectid"] = ObjectIdConverter

_dead_letter = DeadLetterResponseSchema()


def _service() -> DeadLetterService:
    return get_runtime().dead_letter_service


def _ok(data: Any, status: int = 200, **extra: Any) -> tuple[Response, int]:
    return jsonify({"success": True, "data": data, **extra}), status


@dead_letters_api.get("")
def list_dead_letters() -> tuple[Response, int]:
    query = load_or_raise(DeadLetterQuerySchema(), request.args)
    page, limit = query["page"], query["limit"]
    found, total = _service().page(page, limit, job_id=query.get("jobId"),
                                   state=query.get("state"))  # fmt: skip
    pagination = {"page": page, "limit": limit, "total": total,
                  "totalPages": math.ceil(total / limit)}  # fmt: skip
    return _ok(_dead_letter.dump(found, many=True), pagination=pagination)


@dead_letters_api.get("/<objectid:dead_letter_id>")
def get_dead_letter(dead_letter_id: str) -> tuple[Response, int]:
    return _ok(_dead_letter.dump(_service().get(dead_letter_id)))


@dead_letters_api.delete("/<objectid:dead_letter_id>")
def delete_dead_letter(dead_letter_id: str) -> tuple[Response, int]:
    _service().delete(dead_letter_id)
    return _ok({"deadLetterId": dead_letter_id.lower(), "deleted": True})


@dead_letters_api.post("/<objectid:dead_letter_id>/replay")
def replay_dead_letter(dead_letter_id: str) -> tuple[Response, int]:
    """202: the replay runs on the scheduler, not in this request. No body, or ``{}``."""
    load_or_raise(ReplaySchema(), optional_json_body())
    return _ok(_dead_letter.dump(_service().replay(dead_letter_id)), 202)


@dead_letters_api.post("/replay")
def replay_dead_letters() -> tuple[Response, int]:
    body = load_or_raise(BulkReplaySchema(), json_body())
    result = _service().replay_many(job_id=body.get("jobId"), ids=body.get("ids"))
    return _ok({"queued": result.queued, "skipped": result.skipped}, 202)
