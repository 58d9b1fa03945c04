"""``/api/observability``: health (with the database), stats, recent failures."""

from __future__ import annotations

import time
from typing import Any

import pymongo
from flask import Blueprint, Response, current_app, jsonify, request
from pymongo.errors import PyMongoError

from scheduler_service.api.errors import DATABASE_UNAVAILABLE, error_object, status_and_code
from scheduler_service.clock import iso_utc
from scheduler_service.errors import StorageUnavailable
from scheduler_service.runtime import Runtime, get_runtime
from scheduler_service.schemas import ExecutionResponseSchema, LimitQuerySchema, load_or_raise

observability_api = Blueprint("observability", __name__, url_prefix="/api/observability")

# The health probe's own deadline: a monitor should hear "unhealthy" well within 5 s.
HEALTH_PING_TIMEOUT_S = 3.0

_executions = ExecutionResponseSchema(many=True)


def scheduler_status(runtime: Runtime) -> dict[str, Any]:
    """The scheduler's status, or what it would report if this process runs none."""
    if runtime.scheduler is not None:
        return dict(runtime.scheduler.status())
    return {
        "isRunning": False,
        "runningJobs": 0,
        "maxConcurrentJobs": runtime.config.max_concurrent_jobs,
        "pollInterval": runtime.config.scheduler_poll_interval_ms,
    }


def ping_database(runtime: Runtime) -> float:
    """Round-trip time of a ``ping`` in ms; raises PyMongoError when down or hung."""
    seconds = min(runtime.config.db_timeout_ms / 1000, HEALTH_PING_TIMEOUT_S)
    started = time.perf_counter()
    with pymongo.timeout(seconds):
        runtime.database.command("ping")
    return round((time.perf_counter() - started) * 1000, 1)


@observability_api.get("/health")
def health() -> tuple[Response, int]:
    runtime = get_runtime()
    body: dict[str, Any] = {
        "success": True,
        "status": "healthy",
        "timestamp": iso_utc(runtime.clock.now()),
        "scheduler": scheduler_status(runtime),
    }
    clock_status = getattr(runtime.clock, "status", None)
    if clock_status is not None:  # the database's clock: this machine's offset to it
        body["clock"] = clock_status()
    try:
        latency = ping_database(runtime)
    except PyMongoError as exc:  # down, hung, or refusing us (auth): unhealthy either way
        current_app.logger.warning("health: database unavailable: %s", exc)
        unavailable = StorageUnavailable(DATABASE_UNAVAILABLE)
        body.update(
            success=False,
            status="unhealthy",
            database={"status": "disconnected", "kind": runtime.database_kind},
            error=error_object(unavailable),
        )
        return jsonify(body), status_and_code(unavailable)[0]
    body["database"] = {"status": "connected", "kind": runtime.database_kind, "latencyMs": latency}
    return jsonify(body), 200


@observability_api.get("/stats")
def stats() -> tuple[Response, int]:
    runtime = get_runtime()
    scheduler = {**scheduler_status(runtime), "skippedTicks": runtime.jobs.skipped_ticks()}
    data = {
        "executions": runtime.executions.counts(
            runtime.clock.now(), runtime.jobs.running_attempts()
        ),
        "scheduler": scheduler,
        "jobs": runtime.jobs.counts(),
        "deadLetters": runtime.dead_letters.counts(),
    }
    return jsonify({"success": True, "data": data}), 200


@observability_api.get("/failures")
def failures() -> tuple[Response, int]:
    """Failed attempts, newest first (by ``startedAt``)."""
    limit = load_or_raise(LimitQuerySchema(), request.args)["limit"]
    records = get_runtime().executions.failures(limit)
    data = _executions.dump([record.to_document() for record in records])
    return jsonify({"success": True, "data": data}), 200
