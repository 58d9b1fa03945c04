"""The one error mapper: every failure leaves the API as the contract's JSON, never as HTML.

Blueprints and services raise; only this module builds ``{"success": false, "error": ...}``.
``ERRORS`` is the one table from a domain error class to its HTTP status and code;
``STATUS_CODES`` names the code of an error that arrives as an HTTP status (werkzeug's
404, 405, 409, 413, 415, flask-limiter's 429).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_limiter import RateLimitExceeded
from marshmallow import ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException

from scheduler_service.api.ratelimit import retry_after_s
from scheduler_service.errors import (
    Conflict,
    DeadLetterNotFound,
    ErrorCode,
    InvalidInput,
    JobNotFound,
    SchedulerError,
    StorageUnavailable,
    Unauthorized,
)

# Domain error class -> (status, code). A class not listed takes the entry of its nearest
# listed ancestor: everything else under SchedulerError is a 500.
ERRORS: dict[type[SchedulerError], tuple[int, ErrorCode]] = {
    InvalidInput: (400, ErrorCode.VALIDATION_ERROR),
    Unauthorized: (401, ErrorCode.UNAUTHORIZED),
    JobNotFound: (404, ErrorCode.NOT_FOUND),
    DeadLetterNotFound: (404, ErrorCode.NOT_FOUND),
    Conflict: (409, ErrorCode.CONFLICT),
    StorageUnavailable: (503, ErrorCode.UNAVAILABLE),
    SchedulerError: (500, ErrorCode.INTERNAL_ERROR),
}

# HTTP status -> code. Statuses not listed fall back by class (4xx -> VALIDATION_ERROR,
# 5xx -> INTERNAL_ERROR) and keep their own status.
STATUS_CODES = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    503: ErrorCode.UNAVAILABLE,
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
INTERNAL_MESSAGE = "An internal error occurred"


def status_and_code(exc: SchedulerError) -> tuple[int, ErrorCode]:
    """The entry of ``ERRORS`` for ``exc``'s class or its nearest listed ancestor."""
    return next(ERRORS[cls] for cls in type(exc).__mro__ if cls in ERRORS)


def code_for_status(status: int) -> ErrorCode:
    fallback = ErrorCode.VALIDATION_ERROR if status < 500 else ErrorCode.INTERNAL_ERROR
    return STATUS_CODES.get(status, fallback)


def answered_codes() -> list[str]:
    """Every code this mapper can answer with, sorted (for the OpenAPI document)."""
    codes = {code for _, code in ERRORS.values()} | set(STATUS_CODES.values())
    return sorted(code.value for code in codes)


def error_object(exc: SchedulerError) -> dict[str, Any]:
    """The contract's ``error`` member for ``exc``."""
    _, code = status_and_code(exc)
    return _error_member(code, exc.message, exc.details)


def _error_member(code: ErrorCode, message: str, details: dict[str, Any] | None) -> dict[str, Any]:
    return {"code": code.value, "message": message, "details": details or {}}


def error_response(
    status: int, code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> Response:
    response = jsonify({"success": False, "error": _error_member(code, message, details)})
    response.status_code = status
    return response


def is_database_unavailable(exc: BaseException) -> bool:
    """Unreachable, or did not answer within the deadline (pymongo marks those ``timeout``)."""
    return isinstance(exc, ConnectionFailure) or (
        isinstance(exc, PyMongoError) and bool(getattr(exc, "timeout", False))
    )


def handle_scheduler_error(exc: SchedulerError) -> Response:
    status, code = status_and_code(exc)
    if status >= 500:
        current_app.logger.warning("%s: %s", code.value, exc.message)
    response = error_response(status, code, exc.message, exc.details)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="scheduler-service"'
    return response


def handle_validation_error(exc: ValidationError) -> Response:
    """A schema used without ``load_or_raise``: still the contract's 400."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return handle_scheduler_error(InvalidInput("Invalid request", messages))


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
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
    response = error_response(status, code_for_status(status), message or MESSAGES[500], details)
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
        code_for_status(429),
        f"Too many requests: the limit is {limit}; retry in {retry_after} s",
        {"limit": limit, "retryAfter": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def handle_database_error(exc: PyMongoError) -> Response:
    if is_database_unavailable(exc):
        current_app.logger.warning("database unavailable: %s", exc)
        status, code = status_and_code(StorageUnavailable(DATABASE_UNAVAILABLE))
        return error_response(status, code, DATABASE_UNAVAILABLE)
    return handle_unexpected(exc)


def handle_unexpected(exc: Exception) -> Response:
    """A bug: log the traceback, tell the client nothing about it."""
    current_app.logger.exception(
        "unhandled error in %s %s", request.method, request.path, exc_info=exc
    )
    status, code = ERRORS[SchedulerError]
    return error_response(status, code, INTERNAL_MESSAGE)


def register_error_handlers(app: Flask) -> None:
    """Flask picks the most specific handler along the exception's MRO."""
    app.register_error_handler(SchedulerError, handle_scheduler_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PyMongoError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
