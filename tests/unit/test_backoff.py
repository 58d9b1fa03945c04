from __future__ import annotations

import pytest

from scheduler_service.scheduler.backoff import retry_delay_ms, should_retry


@pytest.mark.parametrize(("failed_attempt", "expected"), [(1, 1000), (2, 2000), (3, 4000),
                                                          (4, 8000), (11, 1_024_000)])
def test_delay_doubles_after_each_failed_attempt(failed_attempt: int, expected: int) -> None:
    assert retry_delay_ms(failed_attempt, 1000) == expected


def test_delay_is_capped_when_a_cap_is_given() -> None:
    assert retry_delay_ms(3, 1000, cap_ms=3000) == 3000
    assert retry_delay_ms(2, 1000, cap_ms=3000) == 2000
    assert retry_delay_ms(200, 1000, cap_ms=60_000) == 60_000


def test_zero_base_means_immediate_retries() -> None:
    assert retry_delay_ms(5, 0) == 0


@pytest.mark.parametrize(("failed_attempt", "base_ms"), [(0, 1000), (-1, 1000), (1, -5)])
def test_nonsense_arguments_are_rejected(failed_attempt: int, base_ms: int) -> None:
    with pytest.raises(ValueError):
        retry_delay_ms(failed_attempt, base_ms)


def test_retry_attempts_counts_retries_after_the_first_attempt() -> None:
    # retryAttempts=3: attempts 1..4 are made, so attempts 1, 2 and 3 earn a retry.
    assert [should_retry(k, 3, retryable=True) for k in (1, 2, 3, 4)] == [True, True, True, False]


def test_no_retries_when_retry_attempts_is_zero() -> None:
    assert not should_retry(1, 0, retryable=True)


def test_a_failure_that_is_not_retryable_is_never_retried() -> None:
    assert not should_retry(1, 10, retryable=False)
