"""Small helpers every bench section shares: the log line, medians, percentiles, time."""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index], 1)


def whole_second_after(seconds: float) -> datetime:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.replace(microsecond=0) + timedelta(seconds=1)


def sleep_until(when: datetime, cap_s: float) -> None:
    left = min((when - datetime.now(UTC)).total_seconds(), cap_s)
    if left > 0:
        time.sleep(left)
