"""The one error mapper: every failure leaves the API as the contract's JSON, never as HTML.

Blueprints and services raise; only this module builds ``{"success": false, "error": ...}``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_limiter import RateLimitExceeded
from marshmallow import ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException

from scheduler_service.api.ratelimit import retry_after_s
from scheduler_service.errors import SchedulerError

# HTTP status -> the contract's error code. Statuses not listed fall back by class
# (4xx -> VALIDATION_ERROR, 5xx -> INTERNAL_ERROR) and keep their own status.
CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}

# Short messages instead of werkzeug's prose descriptions.
MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Resource not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Content-Type must be application/json",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

DATABASE_UNAVAILABLE = "database unavailable"


def error_object(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract's ``error`` member."""
    return {"code": code, "message": message, "details": details or {}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    response = jsonify({"success": False, "error": error_object(code, message, details)})
    response.status_code = status
    return response


def is_database_unavailable(exc: BaseException) -> bool:
    """Unreachable, or did not answer within the deadline (pymongo marks those ``timeout``)."""
    return isinstance(exc, ConnectionFailure) or (
        isinstance(exc, PyMongoError) and bool(getattr(exc, "timeout", False))
    )


def handle_scheduler_error(exc: SchedulerError) -> Response:
    if exc.status >= 500:
        current_app.logger.warning("%s: %s", exc.code, exc.message)
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scheduler-service"'
    return response


def handle_validation_error(exc: ValidationError) -> Response:
    """A schema used without ``load_or_raise``: still the contract's 400."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return error_response(400, "VALIDATION_ERROR", "Invalid request", messages)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = CODES.get(status) or ("VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR")
    # A description given where the exception was raised is meant for the client;
    # werkzeug's class-level prose is not.
    custom = "description" in vars(exc) and status < 500
    message = exc.description if custom else MESSAGES.get(status, exc.name)
    details: dict[str, Any] = {}
    if status == 404:
        message = f"No such resource: {request.method} {request.path}"
    elif status == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        message = f"Method {request.method} is not allowed here"
        details = {"allowed": allowed}
    elif status == 413:
        details = {"maxBytes": current_app.config.get("MAX_CONTENT_LENGTH")}
    response = error_response(status, code, message or MESSAGES[500], details)
    # Keep protocol headers such as Allow (405) and Retry-After (429, 503).
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_rate_limited(exc: RateLimitExceeded) -> Response:
    """Over ``RATE_LIMIT``: 429 with the seconds until the window resets."""
    retry_after = retry_after_s()
    limit = str(exc.limit.limit)
    response = error_response(
        429,
        "RATE_LIMITED",
        f"Too many requests: the limit is {limit}; retry in {retry_after} s",
        {"limit": limit, "retryAfter": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def handle_database_error(exc: PyMongoError) -> Response:
    if is_database_unavailable(exc):
        current_app.logger.warning("database unavailable: %s", exc)
        return error_response(503, "UNAVAILABLE", DATABASE_UNAVAILABLE)
    return handle_unexpected(exc)


def handle_unexpected(exc: Exception) -> Response:
    """A bug: log the traceback, tell the client nothing about it."""
    current_app.logger.exception(
        "unhandled error in %s %s", request.method, request.path, exc_info=exc
    )
    return error_response(500, "INTERNAL_ERROR", "An internal error occurred")


def register_error_handlers(app: Flask) -> None:
    """Flask picks the most specific handler along the exception's MRO."""
    app.register_error_handler(SchedulerError, handle_scheduler_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PyMongoError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
