"""Retry policy as pure functions of the attempt number and the job's settings.

``retryAttempts`` counts the retries after the first attempt, so a tick makes at most
``retryAttempts + 1`` attempts; the retry after attempt k waits ``retryDelay * 2^(k-1)`` ms.
"""

from __future__ import annotations


def retry_delay_ms(failed_attempt: int, base_ms: int, cap_ms: int | None = None) -> int:
    """The wait before the retry that follows attempt ``failed_attempt`` (1-based)."""
    if failed_attempt < 1:
        raise ValueError(f"failed_attempt must be 1 or more, not {failed_attempt}")
    if base_ms < 0:
        raise ValueError(f"base_ms must not be negative, not {base_ms}")
    delay = base_ms * 2 ** (failed_attempt - 1)
    return delay if cap_ms is None else min(delay, cap_ms)


def should_retry(failed_attempt: int, retry_attempts: int, retryable: bool) -> bool:
    """Whether attempt ``failed_attempt`` (1-based), which failed, earns another attempt."""
    return retryable and failed_attempt <= retry_attempts
