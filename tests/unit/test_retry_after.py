"""``Retry-After`` as a delay (a pure function of the header and the time of the answer),
and how it meets the backoff and the job's cap."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler_service.delivery.outcome import FailureKind, is_retryable
from scheduler_service.delivery.retry_after import MAX_RETRY_AFTER_MS, retry_after_ms
from scheduler_service.scheduler.backoff import next_retry_delay_ms

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "expected"), [
    ("2", 2000),
    (" 120 ", 120_000),
    ("0", 0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 60_000),  # IMF-fixdate
    ("Wednesday, 21-Oct-15 07:28:00 GMT", 60_000),  # RFC 850
    ("Wed Oct 21 07:28:00 2015", 60_000),  # asctime
    ("Wed, 21 Oct 2015 07:20:00 GMT", 0),  # in the past: no delay
    ("99999999999999999999", MAX_RETRY_AFTER_MS),
])  # fmt: skip
def test_seconds_and_http_dates_are_delays(value: str, expected: int) -> None:
    assert retry_after_ms(value, NOW) == expected


@pytest.mark.parametrize("value", [None, "", "-5", "1.5", "soon", "\u0663", "Wed, 99 Foo"])
def test_anything_else_is_ignored(value: str | None) -> None:
    assert retry_after_ms(value, NOW) is None


def test_retry_after_lengthens_the_backoff_within_the_cap() -> None:
    assert next_retry_delay_ms(1, 1000, 60_000) == 1000  # no Retry-After: the backoff
    assert next_retry_delay_ms(1, 1000, 60_000, retry_after_ms=2000) == 2000
    assert next_retry_delay_ms(3, 1000, 60_000, retry_after_ms=2000) == 4000  # backoff longer
    assert next_retry_delay_ms(1, 1000, 60_000, retry_after_ms=3_600_000) == 60_000  # capped


@pytest.mark.parametrize(("status", "retried"), [
    (500, True), (503, True), (408, True), (425, True), (429, True),
    (400, False), (404, False), (409, False), (422, False), (301, False),
])  # fmt: skip
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert is_retryable(FailureKind.HTTP_STATUS, status) is retried
