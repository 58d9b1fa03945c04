"""The figures of the dashboard's overview: the last hour's attempts, per minute and in
total, start lag, failing jobs and the scheduler processes seen; read through the stores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore

WINDOW = timedelta(hours=1)
# The overview reads at most this many of the last hour's attempts (a busy hour is cut to
# its newest ones, and the page says so), so one refresh costs a bounded read.
MAX_ATTEMPTS = 5000
# A process that claimed a tick within this long counts as alive; it is looked for among
# the jobs of the newest attempts (this many) and the jobs with ticks in flight.
ALIVE_WITHIN = timedelta(minutes=5)
MAX_CLAIMERS_READ = 500
# Attempts are recorded when they end; the ones in flight are counted from the jobs.
STATUSES = ("success", "failure")


@dataclass
class Minute:
    start: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Overview:
    now: datetime
    minutes: list[Minute]
    totals: dict[str, int]
    truncated: bool  # more than MAX_ATTEMPTS in the hour: the figures cover the newest
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    failing_job_ids: list[str]
    processes: list[str]
    running: int  # attempts in flight now

    @property
    def success_rate(self) -> float | None:
        finished = self.totals["success"] + self.totals["failure"]
        return None if finished == 0 else self.totals["success"] / finished


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def minute_floor(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def build_overview(jobs: JobStore, executions: ExecutionStore, now: datetime) -> Overview:
    since = now - WINDOW
    attempts = executions.started_since(since, MAX_ATTEMPTS)
    first = minute_floor(since) + timedelta(minutes=1)
    minutes = [Minute(first + timedelta(minutes=i)) for i in range(60)]
    totals = dict.fromkeys(STATUSES, 0)
    lags: list[float] = []
    latest: dict[Any, str] = {}  # job -> status of its newest finished attempt
    for attempt in attempts:  # newest first
        status = attempt.status.value
        if status not in totals:
            continue
        totals[status] += 1
        index = int((minute_floor(attempt.started_at) - first) / timedelta(minutes=1))
        if 0 <= index < len(minutes):
            minutes[index].counts[status] += 1
        if attempt.attempt == 1 and attempt.scheduled_at is not None:
            lags.append((attempt.started_at - attempt.scheduled_at) / timedelta(milliseconds=1))
        latest.setdefault(attempt.job_id, status)
    failing = sorted(str(job) for job, status in latest.items() if status == "failure")
    alive_since = now - ALIVE_WITHIN
    recent = [job for job in dict.fromkeys(attempt.job_id for attempt in attempts
                                           if attempt.started_at >= alive_since)]  # fmt: skip
    return Overview(
        now=now,
        minutes=minutes,
        totals=totals,
        truncated=len(attempts) >= MAX_ATTEMPTS,
        lag_p50_ms=percentile(lags, 0.50),
        lag_p99_ms=percentile(lags, 0.99),
        failing_job_ids=failing,
        processes=jobs.claimers_since(alive_since, recent[:MAX_CLAIMERS_READ]),
        running=jobs.running_attempts(),
    )
