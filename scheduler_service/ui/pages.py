"""The pages that only read: overview, jobs, job, the schedule preview, and error pages."""

from __future__ import annotations

from flask import Response, jsonify, render_template, request
from pymongo.errors import PyMongoError
from werkzeug.exceptions import HTTPException

from scheduler_service.api.errors import status_and_code
from scheduler_service.clock import iso_utc
from scheduler_service.errors import SchedulerError
from scheduler_service.schemas.query import SORTS
from scheduler_service.ui import data, dead_letters, forms, present
from scheduler_service.ui import ui as bp

# How often the pages that change by themselves reload their live parts (ms).
REFRESH_MS = 5000
NEXT_RUNS = 10
EXECUTIONS_SHOWN = 50
PREVIEW_COUNT = 5
FAILING_SHOWN = 20


@bp.get("/")
def overview() -> str:
    summary = data.overview()
    return render_template(
        "ui/overview.html",
        title="Overview",
        counts=data.job_counts(),
        summary=summary,
        chart=present.chart(summary),
        failing=data.jobs_named(summary.failing_job_ids[:FAILING_SHOWN]),
        dead_letters=dead_letters.waiting(),
        refresh_ms=REFRESH_MS,
    )


@bp.get("/jobs")
def jobs() -> str | tuple[str, int]:
    query, errors = data.job_query(request.args)
    filters = {key: request.args.get(key, "") for key in ("tag", "enabled", "q", "sort")}
    page = render_template(
        "ui/jobs.html", title="Jobs", listing=data.jobs_page(query), refresh_ms=REFRESH_MS,
        filters=filters, errors=errors, sorts=SORTS,
        filtered=any(filters[key] for key in ("tag", "enabled", "q")),
    )  # fmt: skip
    return (page, 400) if errors else page


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> str:
    shown = data.job(job_id)
    try:
        found = data.upcoming(shown, NEXT_RUNS)
        upcoming = [iso_utc(when) for when in found.next_run_times] if shown["enabled"] else []
        description = found.description
    except SchedulerError:  # a stored schedule this version no longer reads
        upcoming, description = [], None
    return render_template(
        "ui/job.html",
        title=present.job_title(shown),
        job=shown,
        upcoming=upcoming,
        description=description,
        executions=data.executions(job_id, EXECUTIONS_SHOWN),
        fields=forms.form_fields(),
        refresh_ms=REFRESH_MS,
    )


@bp.get("/preview")
def preview() -> Response:
    """The form's live preview (JSON for ``ui.js``): the next fire times of a schedule."""
    return jsonify(data.preview(request.args, PREVIEW_COUNT))


@bp.get("/<path:rest>")
def not_found(rest: str) -> tuple[str, int]:
    return error_page("Not found", "There is no such page in the dashboard.", 404)


def error_page(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("ui/error.html", title=title, message=message), status


@bp.errorhandler(SchedulerError)
def scheduler_error(exc: SchedulerError) -> tuple[str, int]:
    """The API's status for the error (its one table), as a page."""
    status, _ = status_and_code(exc)
    if status == 404:
        return error_page("Not found", exc.message, 404)
    if status >= 500:
        return error_page("Unavailable", "The database did not answer; try again.", 503)
    return error_page("Error", exc.message, status)


@bp.errorhandler(PyMongoError)
def database_error(exc: PyMongoError) -> tuple[str, int]:
    return error_page("Unavailable", "The database did not answer; try again.", 503)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    return error_page(exc.name, exc.name, status)
