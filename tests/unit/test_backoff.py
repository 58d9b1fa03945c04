from __future__ import annotations

import pytest

from scheduler_service.config import Config
from scheduler_service.scheduler.backoff import retry_delay_ms, should_retry

HOUR_MS = 3_600_000


@pytest.mark.parametrize(("failed_attempt", "expected"), [(1, 1000), (2, 2000), (3, 4000),
                                                          (4, 8000), (11, 1_024_000)])
def test_delay_doubles_after_each_failed_attempt(failed_attempt: int, expected: int) -> None:
    assert retry_delay_ms(failed_attempt, 1000, HOUR_MS) == expected


def test_delay_never_passes_the_cap() -> None:
    assert retry_delay_ms(2, 1000, cap_ms=3000) == 2000
    assert retry_delay_ms(3, 1000, cap_ms=3000) == 3000
    assert retry_delay_ms(200, 1000, cap_ms=60_000) == 60_000
    assert retry_delay_ms(10**6, 1, cap_ms=HOUR_MS) == HOUR_MS  # no giant integers either
    assert retry_delay_ms(1, 5000, cap_ms=1000) == 1000  # a cap below the base wins


def test_the_longest_wait_of_the_largest_job_settings_is_the_default_cap() -> None:
    # retryAttempts 10 and retryDelay one hour: the last retry would wait 2^9 hours (21 days)
    # without the cap.
    config = Config()
    assert config.job_retry_delay_max_ms == HOUR_MS
    waits = [retry_delay_ms(k, HOUR_MS, config.job_retry_delay_max_ms) for k in range(1, 11)]
    assert max(waits) == HOUR_MS


def test_zero_base_means_immediate_retries() -> None:
    assert retry_delay_ms(5, 0, HOUR_MS) == 0


@pytest.mark.parametrize(("failed_attempt", "base_ms", "cap_ms"),
                         [(0, 1000, HOUR_MS), (-1, 1000, HOUR_MS), (1, -5, HOUR_MS),
                          (1, 1000, -1)])  # fmt: skip
def test_nonsense_arguments_are_rejected(failed_attempt: int, base_ms: int, cap_ms: int) -> None:
    with pytest.raises(ValueError):
        retry_delay_ms(failed_attempt, base_ms, cap_ms)


def test_retry_attempts_counts_retries_after_the_first_attempt() -> None:
    # retryAttempts=3: attempts 1..4 are made, so attempts 1, 2 and 3 earn a retry.
    assert [should_retry(k, 3, retryable=True) for k in (1, 2, 3, 4)] == [True, True, True, False]


def test_no_retries_when_retry_attempts_is_zero() -> None:
    assert not should_retry(1, 0, retryable=True)


def test_a_failure_that_is_not_retryable_is_never_retried() -> None:
    assert not should_retry(1, 10, retryable=False)
