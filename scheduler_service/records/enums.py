"""The records' enums (entry state, execution type, policies, execution status) and the
defaults of a job's fields."""

from __future__ import annotations

from enum import StrEnum


class EntryState(StrEnum):
    WAITING = "waiting"  # a retry or a manual run, due at ``due_at``
    RUNNING = "running"  # claimed; its lease ends at ``due_at``


class ExecutionType(StrEnum):
    AT_LEAST_ONCE = "AT_LEAST_ONCE"  # an attempt cut short is re-delivered
    AT_MOST_ONCE = "AT_MOST_ONCE"  # never attempted twice, never retried


class ConcurrencyPolicy(StrEnum):
    FORBID = "FORBID"  # a tick due while the previous one runs is skipped
    ALLOW = "ALLOW"


class MissedRunPolicy(StrEnum):
    COALESCE = "COALESCE"
    RUN_ALL = "RUN_ALL"
    SKIP = "SKIP"


class Status(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    RUNNING = "running"  # an attempt in flight (shown from its entry; never stored now)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# A job's defaults, for the fields a request may leave out (retryAttempts and retryDelay
# come from configuration: JOB_RETRY_ATTEMPTS, JOB_RETRY_DELAY).
DEFAULT_METHOD = "POST"
DEFAULT_EXECUTION_TYPE = ExecutionType.AT_LEAST_ONCE
DEFAULT_CONCURRENCY_POLICY = ConcurrencyPolicy.FORBID
DEFAULT_MISSED_RUN_POLICY = MissedRunPolicy.COALESCE
DEFAULT_TIMEZONE = "UTC"
# Higher runs first when more is due than there are free workers (``timer_queue.py``).
MIN_PRIORITY, DEFAULT_PRIORITY, MAX_PRIORITY = 1, 5, 10
