"""What the pages show, read through the services and shaped by the API's own schemas
(so secrets are masked exactly as in the API): the one place the dashboard reads data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler_service import cron
from scheduler_service.clock import iso_utc
from scheduler_service.errors import InvalidSchedule
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import ExecutionResponseSchema, JobResponseSchema
from scheduler_service.services.job_service import JobService
from scheduler_service.services.overview import Overview, build_overview

_job = JobResponseSchema()
_executions = ExecutionResponseSchema(many=True)
RESULTS_BAR = 20  # the jobs table's bar of last results
PAGE_SIZE = 20


def service() -> JobService:
    return get_runtime().job_service


def now() -> datetime:
    return get_runtime().clock.now()


@dataclass
class JobsPage:
    jobs: list[dict[str, Any]]
    page: int
    total: int
    total_pages: int
    results: dict[str, list[dict[str, Any]]]  # jobId -> its last attempts, oldest first


def job(job_id: str) -> dict[str, Any]:
    return _job.dump(service().get(job_id))


def stored_job(job_id: str) -> dict[str, Any]:
    """The job as the service holds it (headers readable): for merging an edit only."""
    return service().get(job_id)


def executions(job_id: str, limit: int) -> list[dict[str, Any]]:
    records = service().list_executions(job_id, limit)
    return _executions.dump([record.to_document() for record in records])


def jobs_page(page: int) -> JobsPage:
    documents, total = service().page(page, PAGE_SIZE)
    shown = _job.dump(documents, many=True)
    results = {
        item["jobId"]: list(reversed(executions(item["jobId"], RESULTS_BAR))) for item in shown
    }
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return JobsPage(shown, page, total, pages, results)


def overview() -> Overview:
    runtime = get_runtime()
    return build_overview(runtime.jobs, runtime.executions, runtime.clock.now())


def job_counts() -> dict[str, int]:
    return get_runtime().jobs.counts()


def next_fire_times(schedule: str, count: int, after: datetime | None = None) -> list[str]:
    """The next ``count`` fire times of a schedule (ISO UTC); InvalidSchedule if bad."""
    times: list[str] = []
    current = after or now()
    for _ in range(count):
        current = cron.next_fire_time(schedule, current)
        times.append(iso_utc(current) or "")
    return times


def preview(schedule: str, count: int) -> dict[str, Any]:
    """What the form shows while a schedule is typed: its next fire times, or why not."""
    try:
        normalized = cron.parse(schedule)
        return {"schedule": normalized, "nextRunTimes": next_fire_times(normalized, count)}
    except InvalidSchedule as exc:
        return {"schedule": schedule, "error": exc.message, "nextRunTimes": []}


