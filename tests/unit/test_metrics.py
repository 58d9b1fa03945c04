"""``GET /metrics`` and the scheduler's instrumentation (single-process mode, mongomock)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import AutoReconnect

from scheduler_service import create_app, metrics, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.records import Job
from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler import executor as executor_module
from scheduler_service.scheduler.timer_queue import Candidate
from tests.support.waiting import wait_until
from tests.support.workers import Worker
from tests.support.workers import candidate as candidate_of
from tests.support.workers import make_worker as worker_on

FAMILIES = {
    "scheduler_executions",
    "scheduler_attempt_duration_seconds",
    "scheduler_start_lag_seconds",
    "scheduler_running_jobs",
    "scheduler_poll_duration_seconds",
    "scheduler_claim_conflicts",
    "scheduler_skipped_ticks",
    "scheduler_database_errors",
    "scheduler_http_requests",
    "scheduler_http_request_duration_seconds",
}
OK = AttemptOutcome(True, 200, "ok", False, None, False, duration_ms=120)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_worker(app: Flask) -> Worker:
    return worker_on(app, "test-owner", session_factory=lambda: None)


def fire_once(
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    outcome: AttemptOutcome = OK,
    late_ms: int = 30,
    request_headers: dict[str, str] | None = None,
    **job: Any,
) -> tuple[Worker, Candidate]:
    """Create a job over the API and run its next tick ``late_ms`` late with a fake attempt
    (no HTTP request is sent: ``perform`` is replaced)."""
    fields = {"schedule": "*/10 * * * * *", "endpoint": "https://example.com/hook", **job}
    created = client.post("/api/jobs", json=fields, headers=request_headers or {})
    assert created.status_code == 201, created.get_json()
    app = client.application
    runtime = get_runtime(app)
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    seen: list[Any] = []
    monkeypatch.setattr(executor_module, "perform", lambda request, session: seen.append(request)
                        or outcome)  # fmt: skip
    document = runtime.database.jobs.find_one({})
    assert document is not None
    clock.set(document["nextRunAt"] + timedelta(milliseconds=late_ms))
    candidate = candidate_of(document)
    runner = make_worker(app)
    runner.run(candidate)
    assert len(seen) == 1, "the fake attempt ran"
    return runner, candidate


def test_metrics_exposes_every_family_after_a_fake_execution(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_success = sample("scheduler_executions_total", status="success")
    before_lag = sample("scheduler_start_lag_seconds_count", kind="tick")
    before_lag_fast = sample("scheduler_start_lag_seconds_bucket", kind="tick", le="0.04")
    before_duration = sample("scheduler_attempt_duration_seconds_sum")

    fire_once(client, monkeypatch, late_ms=30)

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert set(families) >= FAMILIES
    assert sample("scheduler_executions_total", status="success") == before_success + 1
    assert sample("scheduler_start_lag_seconds_count", kind="tick") == before_lag + 1
    # 30 ms late: counted in the 40 ms bucket (fine-grained below 100 ms)
    assert sample("scheduler_start_lag_seconds_bucket", kind="tick", le="0.04") == (
        before_lag_fast + 1
    )
    assert sample("scheduler_attempt_duration_seconds_sum") == pytest.approx(
        before_duration + 0.12
    )
    assert sample("scheduler_running_jobs") == 0
    assert 'route="/api/jobs",status="201"' in text
    assert families["scheduler_executions"].type == "counter"
    assert families["scheduler_running_jobs"].type == "gauge"
    assert families["scheduler_start_lag_seconds"].type == "histogram"


def test_metrics_needs_no_api_key(mongo_db: Any, clock: FixedClock) -> None:
    config = Config(scheduler_enabled=False, api_keys=("k" * 20,))
    app = create_app(open_runtime(config, database=mongo_db, clock=clock))
    client = app.test_client()
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/metrics").status_code == 200


def test_running_jobs_gauge_counts_an_attempt_in_flight(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    during: list[float] = []

    def perform(request: Any, session: Any) -> AttemptOutcome:
        during.append(sample("scheduler_running_jobs"))
        return OK

    created = client.post("/api/jobs", json={"schedule": "*/10 * * * * *",
                                             "endpoint": "https://example.com/x"})
    assert created.status_code == 201
    runtime = get_runtime(client.application)
    document = runtime.database.jobs.find_one({})
    assert document is not None and isinstance(runtime.clock, FixedClock)
    runtime.clock.set(document["nextRunAt"])
    monkeypatch.setattr(executor_module, "perform", perform)
    make_worker(client.application).run(candidate_of(document))
    assert during == [1.0]
    assert sample("scheduler_running_jobs") == 0


def test_a_lost_claim_is_a_claim_conflict(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, candidate = fire_once(client, monkeypatch)
    before = sample("scheduler_claim_conflicts_total")
    runner.run(candidate)  # the same tick again: nextRunAt has moved on, the claim loses
    assert sample("scheduler_claim_conflicts_total") == before + 1


def test_failures_and_missed_ticks_are_counted(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = AttemptOutcome(False, 500, "", False, "HTTP 500 Internal Server Error", True, 5)
    before = sample("scheduler_executions_total", status="failure")
    fire_once(client, monkeypatch, outcome=failed, retryAttempts=0)
    assert sample("scheduler_executions_total", status="failure") == before + 1

    before_missed = sample("scheduler_skipped_ticks_total", reason="missed")
    runtime = get_runtime(client.application)
    created = client.post("/api/jobs", json={"schedule": "* * * * * *", "missedRunPolicy": "SKIP",
                                             "endpoint": "https://example.com/y"})
    job_id = ObjectId(created.get_json()["data"]["jobId"])
    document = runtime.database.jobs.find_one({"_id": job_id})
    assert document is not None and isinstance(runtime.clock, FixedClock)
    runtime.clock.set(document["nextRunAt"] + timedelta(seconds=60))  # 60 ticks missed
    make_worker(client.application).run(candidate_of(document))
    assert sample("scheduler_skipped_ticks_total", reason="missed") >= before_missed + 60


def test_database_errors_of_runner_and_poller_are_counted(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = get_runtime(app)
    runner = make_worker(app)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection reset")

    monkeypatch.setattr(runner.ticks, "claim_ticks", fail)
    job = {"_id": "x", "schedule": "* * * * * *", "nextRunAt": runtime.clock.now()}
    before = sample("scheduler_database_errors_total", component="runner")
    runner.run(Candidate(runtime.clock.now(), 0, "x", Job.from_document(job)))
    assert sample("scheduler_database_errors_total", component="runner") == before + 1

    scheduler = runtime.new_scheduler()
    polls = sample("scheduler_poll_duration_seconds_count")
    scheduler.poll_once()
    assert sample("scheduler_poll_duration_seconds_count") == polls + 1

    before_poller = sample("scheduler_database_errors_total", component="poller")
    monkeypatch.setattr(scheduler.ticks, "due_ticks", fail)
    thread = threading.Thread(target=scheduler.poller.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: sample("scheduler_database_errors_total", component="poller")
                   > before_poller, 5, message="a poller database error counted")  # fmt: skip
    finally:
        scheduler.stop(grace_s=0)
        thread.join(5)


def test_http_requests_are_counted_by_route_template(client: FlaskClient) -> None:
    job_route = {"method": "GET", "route": "/api/jobs/<job_id>", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before = sample("scheduler_http_requests_total", **job_route)
    before_unmatched = sample("scheduler_http_requests_total", **unmatched)
    client.get("/api/jobs/6b08c0497c71e5d9c95309d1")
    client.get("/api/jobs/0123456789abcdef01234567")
    client.get("/no/such/path")
    assert sample("scheduler_http_requests_total", **job_route) == before + 2
    assert sample("scheduler_http_requests_total", **unmatched) == before_unmatched + 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "6b08c0497c71e5d9c95309d1" not in text, "ids never become label values"


def test_a_scrape_meeting_a_process_creating_its_files_reads_the_others(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starting (gunicorn replacing a dead one) creates each metrics file empty and
    extends it just after; a scrape in between was a 500 (struct.error)."""
    written = MmapedDict(str(tmp_path / "counter_101.db"))
    key = json.dumps(["scheduler_claim_conflicts", "scheduler_claim_conflicts_total", {},
                      "Claims that lost."])  # fmt: skip
    written.write_value(key, 3.0, 0.0)
    written.close()
    (tmp_path / "counter_202.db").write_bytes(b"")  # created this instant, not yet extended
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))

    answer = client.get("/metrics")

    assert answer.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}
    assert [s.value for s in families["scheduler_claim_conflicts"].samples] == [3.0]


def test_a_failing_scrape_answers_the_contracts_json_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> bytes:
        raise RuntimeError("Read beyond file size detected, file is corrupted.")

    monkeypatch.setattr(metrics, "render", broken)
    answer = client.get("/metrics")
    assert answer.status_code == 500
    body = answer.get_json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "corrupted" not in answer.get_data(as_text=True)
