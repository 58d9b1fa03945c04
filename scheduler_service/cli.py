"""Flask commands: ``flask --app wsgi jobs seed|list|show|delete`` and ``scheduler run``.

Only ``scheduler run`` starts a scheduler; the ``jobs`` commands never do (importing
``wsgi`` starts none).

Jobs go through ``JobService`` exactly as API requests do (same validation, defaults,
next tick), so a seed file is checked by the same rules as ``POST /api/jobs``.
"""

from __future__ import annotations

import functools
import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup
from pymongo.errors import PyMongoError

from scheduler_service.api.body import parse_json
from scheduler_service.clock import iso_utc
from scheduler_service.errors import InvalidInput, SchedulerError
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import JobResponseSchema, load_or_raise
from scheduler_service.schemas.dead_letters import (
    STATES,
    BulkReplaySchema,
    DeadLetterQuerySchema,
)
from scheduler_service.schemas.query import SORTS, JobListQuerySchema
from scheduler_service.stores.jobs import JobFilter

F = TypeVar("F", bound=Callable[..., Any])

jobs_cli = AppGroup("jobs", help="Create, list, show and delete jobs.")
scheduler_cli = AppGroup("scheduler", help="Run the scheduler without the HTTP API.")
dead_letters_cli = AppGroup("dead-letters", help="List, replay and delete dead letters.")


def _cli_errors(command: F) -> F:
    """Domain and database errors as one ``Error: ...`` line and exit 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SchedulerError as exc:
            raise click.ClickException(exc.message) from exc
        except PyMongoError as exc:
            raise click.ClickException(f"database unavailable: {exc}") from exc

    return wrapper  # type: ignore[return-value]


@jobs_cli.command("seed")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_cli_errors
def seed_jobs(file: str) -> None:
    """Create the jobs in FILE: a JSON job object, or a list of them.

    Each job is validated like POST /api/jobs. Valid jobs are created even when others
    fail; every failure is printed as `error in job #N: field: messages` (N from 1) and
    the command then exits with status 1.
    """
    try:
        with open(file, "rb") as handle:
            payload = parse_json(handle.read())
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from exc
    except InvalidInput as exc:
        raise click.ClickException(f"{file}: {exc.message}") from exc
    items = payload if isinstance(payload, list) else [payload]
    service = get_runtime().job_service
    failed = 0
    for number, item in enumerate(items, start=1):
        try:
            created = service.create(item)
        except InvalidInput as exc:
            failed += 1
            for field, messages in _flatten(exc.details or {"_schema": [exc.message]}):
                click.echo(f"error in job #{number}: {field}: {messages}", err=True)
            continue
        click.echo(f"created {created['_id']}")
    if failed:
        sys.exit(1)


def _flatten(details: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``{"headers": {"X": {"value": ["bad"]}}}`` -> ``("headers.X.value", "bad")``."""
    for key, value in details.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list):
            yield name, "; ".join(str(message) for message in value)
        else:
            yield name, str(value)


@jobs_cli.command("list")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--tag", "tags", multiple=True, help="only jobs with this tag (repeatable: all)")
@click.option("--enabled/--disabled", "enabled", default=None, help="only enabled (disabled) jobs")
@click.option("--q", help="a case-insensitive substring of name or endpoint")
@click.option("--sort", type=click.Choice(SORTS), default="-createdAt", show_default=True)
@_cli_errors
def list_jobs(page: int, limit: int, tags: tuple[str, ...], enabled: bool | None,
              q: str | None, sort: str) -> None:  # fmt: skip
    """List jobs, newest first, or filtered and sorted as GET /api/jobs does."""
    query: dict[str, object] = {"page": str(page), "limit": str(limit), "sort": sort,
                                "tag": list(tags)}  # fmt: skip
    if enabled is not None:
        query["enabled"] = enabled
    if q is not None:
        query["q"] = q
    loaded = load_or_raise(JobListQuerySchema(), query)  # the API's rules for each value
    selection = JobFilter(tags=tuple(loaded.get("tag") or ()), enabled=loaded.get("enabled"),
                          q=loaded.get("q"), sort=loaded["sort"])  # fmt: skip
    listed = get_runtime().job_service.page(page, limit, selection)
    documents, total = listed.jobs, listed.total
    rows = [("ID", "NAME", "SCHEDULE", "TAGS", "PRIORITY", "ENABLED", "NEXT RUN AT")]
    for doc in documents:
        enabled_text = "yes" if doc.get("enabled") else "no"
        schedule = doc.get("schedule") or f"at {iso_utc(doc.get('runAt'))}"
        if doc.get("timezone") not in (None, "UTC") and doc.get("schedule"):
            schedule = f"{schedule} ({doc['timezone']})"
        rows.append(
            (str(doc["_id"]), doc.get("name") or "-", schedule,
             ",".join(doc.get("tags") or ()) or "-", str(doc.get("priority")), enabled_text,
             iso_utc(doc.get("nextRunAt")) or "-")
        )  # fmt: skip
    _table(rows)
    about = "" if listed.total_exact else "about "
    click.echo(f"page {page} of {max(1, math.ceil(total / limit))}, {about}{total} jobs in all")


@jobs_cli.command("show")
@click.argument("job_id")
@_cli_errors
def show_job(job_id: str) -> None:
    """Print a job as the API shows it (secret header values masked)."""
    job = JobResponseSchema().dump(get_runtime().job_service.get(job_id))
    click.echo(json.dumps(job, indent=2))


@jobs_cli.command("delete")
@click.argument("job_id")
@_cli_errors
def delete_job(job_id: str) -> None:
    """Delete a job; its past executions stay for audit."""
    get_runtime().job_service.delete(job_id)
    click.echo(f"deleted {job_id.lower()}")


@jobs_cli.command("reencrypt")
@_cli_errors
def reencrypt_jobs() -> None:
    """Re-encrypt stored header values with the first ENCRYPTION_KEY (key rotation)."""
    service = get_runtime().job_service
    if not service.cipher.enabled:
        raise click.ClickException("ENCRYPTION_KEY is not set")
    click.echo(f"re-encrypted the headers of {service.reencrypt()} jobs")


@jobs_cli.command("recount")
@_cli_errors
def recount_jobs() -> None:
    """Count every job again (total, enabled, per tag, per day of creation) and store the
    counts the API and stats read, repair the job catalog the list reads, and give jobs
    without a priority the default one: after writing jobs around the API, a crash between
    a job's write and its count's, or upgrading a large database."""
    jobs = get_runtime().jobs
    counts, repaired = jobs.recount()
    click.echo(f"{counts.total} jobs, {counts.enabled} enabled, {len(counts.tags)} tags")
    click.echo(f"catalog: {repaired['inserted']} entries added, {repaired['rewritten']} "
               f"rewritten, {repaired['deleted']} deleted")
    click.echo(f"priority: {jobs.priorities.fill()} jobs without one given the default")


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@dead_letters_cli.command("list")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--job", "job_id", help="only this job's")
@click.option("--state", type=click.Choice(STATES), help="only those in this state")
@_cli_errors
def list_dead_letters(page: int, limit: int, job_id: str | None, state: str | None) -> None:
    """List dead letters, newest first."""
    query = {"page": str(page), "limit": str(limit), "jobId": job_id, "state": state}
    loaded = load_or_raise(DeadLetterQuerySchema(), {k: v for k, v in query.items() if v})
    found, total = get_runtime().dead_letter_service.page(
        page, limit, job_id=loaded.get("jobId"), state=loaded.get("state"))  # fmt: skip
    rows = [("ID", "JOB", "SCHEDULED AT", "ATTEMPTS", "STATE", "LAST ERROR")]
    for letter in found:
        rows.append((str(letter.id), str(letter.job_id), iso_utc(letter.scheduled_at) or "-",
                     str(letter.attempts), letter.state.value,
                     (letter.last_attempt.error_message or "-")[:60]))  # fmt: skip
    _table(rows)
    click.echo(f"page {page} of {max(1, math.ceil(total / limit))}, {total} dead letters in all")


@dead_letters_cli.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--job", "job_id", help="replay every replayable dead letter of this job")
@_cli_errors
def replay_dead_letters(ids: tuple[str, ...], job_id: str | None) -> None:
    """Replay dead letters by id (one or more), or all of a job's with --job."""
    service = get_runtime().dead_letter_service
    if len(ids) == 1 and job_id is None:
        letter = service.replay(ids[0])
        click.echo(f"queued {letter.id}")
        return
    body: dict[str, Any] = {"jobId": job_id} if job_id is not None else {}
    if ids:
        body["ids"] = list(ids)
    loaded = load_or_raise(BulkReplaySchema(), body)
    result = service.replay_many(job_id=loaded.get("jobId"), ids=loaded.get("ids"))
    click.echo(f"queued {result.queued}, skipped {result.skipped}")


@dead_letters_cli.command("delete")
@click.argument("dead_letter_id")
@_cli_errors
def delete_dead_letter(dead_letter_id: str) -> None:
    """Delete a dead letter; the tick's executions stay in the history."""
    get_runtime().dead_letter_service.delete(dead_letter_id)
    click.echo(f"deleted {dead_letter_id.lower()}")


@scheduler_cli.command("run")
def run_scheduler() -> None:
    """Run the scheduler in the foreground until SIGINT or SIGTERM."""
    runtime = get_runtime()
    try:
        runtime.start_scheduler()
    except ImportError as exc:
        raise click.ClickException(f"the scheduler is not available: {exc}") from exc
    click.echo("scheduler running; press Ctrl+C to stop", err=True)
    wait_for_shutdown_signal()
    click.echo("stopping the scheduler", err=True)
    runtime.close()


def wait_for_shutdown_signal(poll_s: float = 0.5) -> None:
    """Block until SIGINT or SIGTERM, then restore the previous handlers."""
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        while not stop.wait(poll_s):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register_cli(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(dead_letters_cli)
