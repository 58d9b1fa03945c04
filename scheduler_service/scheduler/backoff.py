"""Retry policy as pure functions of the attempt number and the job's settings.

``retryAttempts`` counts the retries after the first attempt, so a tick makes at most
``retryAttempts + 1`` attempts; the retry after attempt k waits ``retryDelay * 2^(k-1)`` ms,
but never longer than the cap (the job's ``retryDelayMax``; ``JOB_RETRY_DELAY_MAX``, one
hour, by default). A 429 or 503 with ``Retry-After`` waits at least that, within the cap.
"""

from __future__ import annotations


def retry_delay_ms(failed_attempt: int, base_ms: int, cap_ms: int) -> int:
    """The wait before the retry that follows attempt ``failed_attempt`` (1-based):
    ``base_ms`` doubled after each failed attempt, at most ``cap_ms``."""
    if failed_attempt < 1:
        raise ValueError(f"failed_attempt must be 1 or more, not {failed_attempt}")
    if base_ms < 0:
        raise ValueError(f"base_ms must not be negative, not {base_ms}")
    if cap_ms < 0:
        raise ValueError(f"cap_ms must not be negative, not {cap_ms}")
    if base_ms == 0:
        return 0
    # Stop doubling once past the cap: no huge integers for absurd attempt numbers.
    delay, doublings = base_ms, failed_attempt - 1
    while doublings and delay < cap_ms:
        delay, doublings = delay * 2, doublings - 1
    return min(delay, cap_ms)


def next_retry_delay_ms(
    failed_attempt: int, base_ms: int, cap_ms: int, retry_after_ms: int | None = None
) -> int:
    """The wait before the next attempt: the backoff, or the target's ``Retry-After`` if
    that asks for longer; never more than ``cap_ms`` (the job's ``retryDelayMax``)."""
    delay = retry_delay_ms(failed_attempt, base_ms, cap_ms)
    if retry_after_ms is not None:
        delay = max(delay, retry_after_ms)
    return min(delay, cap_ms)


def should_retry(failed_attempt: int, retry_attempts: int, retryable: bool) -> bool:
    """Whether attempt ``failed_attempt`` (1-based), which failed, earns another attempt."""
    return retryable and failed_attempt <= retry_attempts
