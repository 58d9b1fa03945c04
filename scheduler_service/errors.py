"""Domain errors: one tree under ``SchedulerError``, and the contract's error codes.

Nothing here knows HTTP: ``api/errors.py`` maps each class to its status and code, and the
CLI prints ``message``. Errors that never reach a client (a refused target, an unreadable
header value, a failed attempt) are in the tree too, so ``except SchedulerError`` is every
error the service raises on purpose.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The contract's ``error.code`` values."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UNAVAILABLE = "UNAVAILABLE"


class SchedulerError(Exception):
    """Base class of every error the service raises on purpose."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(SchedulerError):
    """Input that fails validation; ``details`` maps each bad field to its messages."""


class InvalidSchedule(InvalidInput):
    """A cron expression that is malformed or can never fire."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {"schedule": [message]})


class InvalidTimezone(InvalidInput):
    """A time zone name that is not a known IANA zone."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {"timezone": [message]})


class JobNotFound(SchedulerError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} not found")


class StorageUnavailable(SchedulerError):
    """The database could not be reached or did not answer in time."""


class ConfigError(SchedulerError):
    """A setting with a bad value; the message names the variable."""


class Unauthorized(SchedulerError):
    """A missing or wrong API key."""


class TargetRefused(SchedulerError):
    """A target the SSRF policy forbids (``delivery/target_guard.py``); ``message`` is ready
    for the execution record."""


class DecryptionError(SchedulerError):
    """A stored header value that no configured key opens (or no key is configured)."""


class Conflict(SchedulerError):
    """A valid request that the resource's state forbids (replaying a dead letter whose
    job was deleted, or one already being replayed)."""


class DeadLetterNotFound(SchedulerError):
    def __init__(self, dead_letter_id: str) -> None:
        super().__init__(f"Dead letter {dead_letter_id} not found")
