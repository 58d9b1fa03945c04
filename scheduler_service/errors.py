"""Domain errors. Services raise these; ``api/errors.py`` maps them to the contract's JSON."""

from __future__ import annotations

from typing import Any


class SchedulerError(Exception):
    """Base class of every error the service raises on purpose."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(SchedulerError):
    """Input that fails validation; ``details`` maps each bad field to its messages."""

    code = "VALIDATION_ERROR"
    status = 400


class InvalidSchedule(InvalidInput):
    """A cron expression that is malformed or can never fire."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {"schedule": [message]})


class JobNotFound(SchedulerError):
    code = "NOT_FOUND"
    status = 404

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} not found")


class StorageUnavailable(SchedulerError):
    """The database could not be reached or did not answer in time."""

    code = "UNAVAILABLE"
    status = 503


class ConfigError(SchedulerError):
    """A setting with a bad value; the message names the variable."""


class Unauthorized(SchedulerError):
    """A missing or wrong API key."""

    code = "UNAUTHORIZED"
    status = 401


class Conflict(SchedulerError):
    """A valid request that the resource's state forbids (replaying a dead letter whose
    job was deleted, or one already being replayed)."""

    code = "CONFLICT"
    status = 409


class DeadLetterNotFound(SchedulerError):
    code = "NOT_FOUND"
    status = 404

    def __init__(self, dead_letter_id: str) -> None:
        super().__init__(f"Dead letter {dead_letter_id} not found")
