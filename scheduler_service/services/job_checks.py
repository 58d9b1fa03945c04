"""What a job's create or change must pass beyond its schema, by this process's settings:
a ``timeoutMs`` within ``JOB_TIMEOUT``, an endpoint (and alert endpoint) whose literal
host the SSRF policy allows, and a body whose chained rendering still fits a document."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema

from scheduler_service.config import Config
from scheduler_service.delivery.payload import largest_rendering
from scheduler_service.delivery.target_guard import literal_refusal
from scheduler_service.errors import InvalidInput
from scheduler_service.schemas import load_or_raise
from scheduler_service.schemas.fields import MAX_BODY_BSON_BYTES

# ``literal_refusal`` is a pure function of its arguments (no DNS query), but it asks the
# C library's getaddrinfo whether a host is a literal: about 45 us a call, kept per host.
_literal_refusal = lru_cache(maxsize=1024)(literal_refusal)


def _timeout_message(config: Config) -> str:
    return f"Must be from 1000 to JOB_TIMEOUT ({config.job_timeout_ms}) ms."


def load(schema: Schema, payload: Any, config: Config) -> dict[str, Any]:
    """``load_or_raise``, with ``timeoutMs``'s real bounds: the schema knows only the
    highest ``JOB_TIMEOUT`` may be, not this process's."""
    try:
        return load_or_raise(schema, payload)
    except InvalidInput as exc:
        if "timeoutMs" in exc.details:
            exc.details["timeoutMs"] = [_timeout_message(config)]
        raise


def check(fields: dict[str, Any], config: Config) -> None:
    """Refuse an endpoint (or alert endpoint) whose host is an IP literal or ``localhost``
    that the SSRF policy forbids; names are resolved and checked when each request is
    made. A ``timeoutMs`` over ``JOB_TIMEOUT`` is refused too, and a body with so many
    ``{{parent.responseBody}}`` that a chained run's could outgrow a stored document
    (its dead letter's write would fail, and the run be sent again without end)."""
    problems: dict[str, list[str]] = {}
    for name in ("endpoint", "alertEndpoint"):
        if fields.get(name) is None:
            continue
        host = urlsplit(fields[name]).hostname or ""
        message = _literal_refusal(host, config.allow_private_targets)
        if message is not None:
            problems[name] = [message]
    if fields.get("timeoutMs", 0) > config.job_timeout_ms:
        problems["timeoutMs"] = [_timeout_message(config)]
    if fields.get("body") is not None:
        size = largest_rendering(fields["body"], config.response_body_limit)
        if size > MAX_BODY_BSON_BYTES:
            problems["body"] = [
                f"Could be {size} bytes once {{{{parent.responseBody}}}} is replaced (each "
                f"by up to RESPONSE_BODY_LIMIT, {config.response_body_limit} bytes, "
                f"3 x in UTF-8), over the limit of {MAX_BODY_BSON_BYTES} (8 MiB)."]  # fmt: skip
    if problems:
        names = ", ".join(sorted(problems))
        raise InvalidInput(f"Invalid request: check {names}", details=problems)
