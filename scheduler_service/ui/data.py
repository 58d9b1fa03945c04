"""What the pages show, read through the services and shaped by the API's own schemas
(so secrets are masked exactly as in the API): the one place the dashboard reads data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from scheduler_service.clock import iso_utc
from scheduler_service.cron_zones import DEFAULT_ZONE
from scheduler_service.errors import InvalidInput, JobNotFound
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import ExecutionResponseSchema, JobResponseSchema, load_or_raise
from scheduler_service.schemas.preview import PreviewQuerySchema
from scheduler_service.schemas.query import JobListQuerySchema
from scheduler_service.services import schedule_preview
from scheduler_service.services.job_service import JobService
from scheduler_service.services.overview import Overview, build_overview
from scheduler_service.services.schedule_preview import SchedulePreview
from scheduler_service.stores.jobs import JobFilter

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


def job_query(args: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The jobs table's filters by the API's own query schema (``GET /api/jobs``): the
    validated query, and the messages for the filters that are not valid (then ignored).
    Empty fields are left out; ``tag`` may hold several tags, comma-separated."""
    given: MultiDict[str, str] = MultiDict()
    for key, value in args.items(multi=True):
        parts = [part.strip() for part in value.split(",")] if key == "tag" else [value]
        for part in parts:
            if part.strip():  # an empty field is no filter; others go as typed
                given.add(key, part)
    given["limit"] = str(PAGE_SIZE)
    try:
        return load_or_raise(JobListQuerySchema(), given), {}
    except InvalidInput as exc:
        errors = {str(key): [str(text) for text in texts] for key, texts in exc.details.items()}
        return load_or_raise(JobListQuerySchema(), {"limit": str(PAGE_SIZE)}), errors


def jobs_page(query: dict[str, Any]) -> JobsPage:
    selection = JobFilter(tags=tuple(query.get("tag") or ()), enabled=query.get("enabled"),
                          q=query.get("q"), sort=query["sort"])  # fmt: skip
    page = query["page"]
    listed = service().page(page, PAGE_SIZE, selection)
    shown, total = _job.dump(listed.jobs, many=True), listed.total
    results = {
        item["jobId"]: list(reversed(executions(item["jobId"], RESULTS_BAR))) for item in shown
    }
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return JobsPage(shown, page, total, pages, results)


def jobs_named(job_ids: list[str]) -> list[dict[str, Any]]:
    """The jobs of these ids that still exist (the overview names its failing jobs)."""
    named = []
    for job_id in job_ids:
        try:
            named.append(job(job_id))
        except JobNotFound:
            continue  # deleted since its last attempt
    return named


def overview() -> Overview:
    runtime = get_runtime()
    return build_overview(runtime.jobs, runtime.executions, runtime.clock.now())


def job_counts() -> dict[str, int]:
    return get_runtime().jobs.counts()


def upcoming(job: dict[str, Any], count: int) -> SchedulePreview:
    """A job's next ``count`` fire times (in its zone, if jobs have one) and description."""
    zone = job.get("timezone") or DEFAULT_ZONE
    return schedule_preview.preview(job["schedule"], zone, now(), count)


def preview(args: Mapping[str, str], count: int) -> dict[str, Any]:
    """The form's live preview: the API's preview (``/api/schedules/preview``: same query
    schema, same service), or the messages that name what is wrong."""
    query = {key: value for key, value in args.items() if key in ("schedule", "timezone")}
    try:
        fields = load_or_raise(PreviewQuerySchema(), {**query, "count": str(count)})
    except InvalidInput as exc:
        messages = [text for texts in exc.details.values() for text in texts]
        return {"error": " ".join(str(text) for text in messages), "nextRunTimes": []}
    found = schedule_preview.preview(fields["schedule"], fields["timezone"], now(), count)
    return {
        "schedule": found.schedule, "timezone": found.timezone,
        "description": found.description,
        "nextRunTimes": [iso_utc(when) for when in found.next_run_times],
    }  # fmt: skip


