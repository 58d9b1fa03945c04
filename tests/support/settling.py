"""A job's ticks run to settlement in one process (mongomock, an injected clock): fake
attempt outcomes (``FakeTarget`` replaces the executor's ``perform``, so no request is
sent), a job created and run over the API, and a worker driven until the tick settles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.delivery.attempt import AttemptOutcome
from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler import executor as executor_module
from tests.support.workers import Worker, candidate, make_worker

NEVER = "0 0 0 1 1 *"
OK = AttemptOutcome(True, 200, "ok", False, None, False, 5)


def failure(status: int, retry_after_ms: int | None = None) -> AttemptOutcome:
    retryable = status >= 500 or status in (408, 425, 429)
    return AttemptOutcome(False, status, "nope", False, f"HTTP {status}", retryable, 5,
                          retry_after_ms)  # fmt: skip


class FakeTarget:
    """Answers each attempt with the next outcome (the last one repeats)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *outcomes: AttemptOutcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[Any] = []
        monkeypatch.setattr(executor_module, "perform", self._perform)

    def _perform(self, request: Any, session: Any) -> AttemptOutcome:
        self.requests.append(request)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


def create_job(app: Flask, **fields: Any) -> ObjectId:
    body = {"schedule": NEVER, "endpoint": "https://example.com/hook", "retryDelay": 1000,
            **fields}  # fmt: skip
    answer = app.test_client().post("/api/jobs", json=body)
    assert answer.status_code == 201, answer.get_json()
    return ObjectId(answer.get_json()["data"]["jobId"])


def run_now(app: Flask, job_id: ObjectId) -> None:
    assert app.test_client().post(f"/api/jobs/{job_id}/run").status_code == 202


def due_entries(database: Database, job_id: ObjectId) -> Iterator[dict[str, Any]]:
    yield from database.jobs.find_one({"_id": job_id})["inflight"]


def run_due(app: Flask, worker: Worker, job_id: ObjectId, clock: FixedClock) -> None:
    """Move the clock to the job's waiting entry and run it (as the dispatcher would)."""
    database = get_runtime(app).database
    [entry] = due_entries(database, job_id)
    clock.set(max(clock.now(), entry["dueAt"]))
    worker.run(candidate(database.jobs.find_one({"_id": job_id}), entry))


def run_until_settled(app: Flask, job_id: ObjectId, clock: FixedClock, limit: int = 10) -> None:
    worker = make_worker(app)
    for _ in range(limit):
        if not list(due_entries(get_runtime(app).database, job_id)):
            return
        run_due(app, worker, job_id, clock)
    raise AssertionError("the tick never settled")
