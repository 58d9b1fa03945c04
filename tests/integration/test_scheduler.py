"""The scheduler end to end: real wire server, real HTTP target on 127.0.0.1, real clock."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.runtime import compose, get_runtime
from tests.support.document_writes import counted_scheduler
from tests.support.http_target import HttpTarget
from tests.support.in_process import END_TO_END, NEVER, create_job, executions, settled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SERVICE_SETTINGS = END_TO_END  # the ``service`` fixture's (tests/integration/conftest.py)


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_every_second_job_fires_each_second_with_method_headers_and_body(
    api: FlaskClient, target: HttpTarget
) -> None:
    job_id = create_job(
        api,
        schedule="* * * * * *",
        endpoint=target.url("/tick"),
        method="PUT",
        headers={"X-Custom": "yes", "Authorization": "Bearer s3cret"},
        body={"event": "scheduled", "at": "{{timestamp}}", "n": 1},
    )
    received = target.wait_for_requests("/tick", 4, timeout_s=10)[:4]
    for request in received:
        assert request.method == "PUT"
        assert request.header("X-Custom") == "yes"
        assert request.header("Authorization") == "Bearer s3cret"
        assert request.json() == {
            "event": "scheduled",
            "n": 1,
            "at": request.header("X-Scheduler-Scheduled-At"),
        }
        assert request.header("X-Scheduler-Job-Id") == job_id
    ticks = [parse(r.header("X-Scheduler-Scheduled-At")) for r in received]
    assert [b - a for a, b in pairwise(ticks)] == [timedelta(seconds=1)] * 3
    assert len({r.header("Idempotency-Key") for r in received}) == 4
    rows = settled(api, job_id, 4)
    assert all(r["status"] == "success" and r["responseCode"] == 200 for r in rows[:4])
    for row in rows[:4]:
        assert parse(row["startedAt"]) >= parse(row["scheduledAt"])
        assert row["attempt"] == 1
    job = api.get(f"/api/jobs/{job_id}").get_json()["data"]
    assert job["lastRunAt"] is not None
    assert job["headers"]["Authorization"] == "Bearer ***"


def test_slow_jobs_do_not_starve_a_fast_one(api: FlaskClient, target: HttpTarget) -> None:
    target.hang("/slow", 1.2)
    for _ in range(3):
        create_job(api, schedule="* * * * * *", endpoint=target.url("/slow"), retryAttempts=0)
    create_job(api, schedule="* * * * * *", endpoint=target.url("/fast"), retryAttempts=0)
    fast = target.wait_for_requests("/fast", 4, timeout_s=10)
    ticks = [parse(r.header("X-Scheduler-Scheduled-At")) for r in fast[:4]]
    assert [b - a for a, b in pairwise(ticks)] == [timedelta(seconds=1)] * 3


def test_overlapping_tick_is_skipped_and_counted(api: FlaskClient, target: HttpTarget) -> None:
    target.hang("/long", 1.4)
    create_job(api, schedule="* * * * * *", endpoint=target.url("/long"), retryAttempts=0)
    target.wait_for_requests("/long", 2, timeout_s=10)
    stats = wait_until(
        lambda: (
            (s := api.get("/api/observability/stats").get_json()["data"])["scheduler"][
                "skippedTicks"
            ]
            >= 1
            and s
        ),
        timeout_s=10,
        message="a skipped tick is counted",
    )
    assert stats["scheduler"]["isRunning"] is True
    keys = [r.header("Idempotency-Key") for r in target.requests_for("/long")]
    assert len(keys) == len(set(keys))


def test_disabled_and_deleted_jobs_stop_firing(api: FlaskClient, target: HttpTarget) -> None:
    disabled = create_job(api, schedule="* * * * * *", endpoint=target.url("/d"))
    deleted = create_job(api, schedule="* * * * * *", endpoint=target.url("/x"))
    target.wait_for_requests("/d", 1, timeout_s=10)
    target.wait_for_requests("/x", 1, timeout_s=10)
    assert api.put(f"/api/jobs/{disabled}", json={"enabled": False}).status_code == 200
    assert api.delete(f"/api/jobs/{deleted}").status_code == 200
    settled(api, disabled, 1)
    count_d, count_x = len(target.requests_for("/d")), len(target.requests_for("/x"))
    # A negative check has no condition to wait on: watch two more seconds of schedule, in
    # which nothing new may arrive (a tick that had already started may still land).
    threading.Event().wait(2.2)
    assert len(target.requests_for("/d")) <= count_d + 1
    assert len(target.requests_for("/x")) <= count_x + 1
    assert api.get(f"/api/jobs/{disabled}").get_json()["data"]["nextRunAt"] is None


def test_health_stats_and_history_show_a_running_attempt_recorded_when_it_ends(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    target.hang("/busy", 1.2)  # within the attempt timeout (1500 ms)
    job_id = create_job(api, schedule=NEVER, endpoint=target.url("/busy"), retryAttempts=0)
    api.post(f"/api/jobs/{job_id}/run")
    target.wait_for_requests("/busy", 1, timeout_s=10)
    health = api.get("/api/observability/health").get_json()
    assert health["scheduler"]["runningJobs"] == 1
    assert health["scheduler"]["isRunning"] is True
    stats = api.get("/api/observability/stats").get_json()["data"]["executions"]
    assert (stats["running"], stats["total"]) == (1, 1)
    [running] = executions(api, job_id)
    assert (running["status"], running["attempt"], running["completedAt"]) == ("running", 1, None)
    # Nothing is written for an attempt until it ends: its claim stands for it meanwhile.
    assert wire_db.job_executions.count_documents({"jobId": ObjectId(job_id)}) == 0

    [ended] = settled(api, job_id, 1)
    assert (ended["_id"], ended["status"]) == (running["_id"], "success")
    assert wire_db.job_executions.count_documents({"jobId": ObjectId(job_id)}) == 1


@contextmanager
def api_and_two_schedulers(uri: str, **settings: Any) -> Iterator[FlaskClient]:
    """An API-only app plus two schedulers with clients of their own, all on one database."""
    config = Config(mongodb_uri=uri, allow_private_targets=True, rate_limit="off", **settings)
    app = create_app(open_runtime(config))
    clients = [MongoClient(uri, tz_aware=True) for _ in range(2)]
    schedulers = [
        compose(config, SystemClock(), c.get_default_database(), c, "external").new_scheduler()
        for c in clients
    ]
    try:
        for scheduler in schedulers:
            scheduler.start()
        yield app.test_client()
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for client in clients:
            client.close()
        get_runtime(app).close()


def test_two_schedulers_on_one_database_fire_each_tick_once(
    wire_uri: str, target: HttpTarget
) -> None:
    with api_and_two_schedulers(
        wire_uri, scheduler_poll_interval_ms=500, max_concurrent_jobs=8
    ) as api:
        job_ids = [
            create_job(api, schedule="* * * * * *", endpoint=target.url(f"/j{i}"), retryAttempts=0)
            for i in range(10)
        ]
        for i in range(10):
            target.wait_for_requests(f"/j{i}", 4, timeout_s=15)
    for i, job_id in enumerate(job_ids):
        keys = Counter(r.header("Idempotency-Key") for r in target.requests_for(f"/j{i}"))
        assert max(keys.values()) == 1, f"job {job_id} fired a tick twice: {keys}"


def test_a_running_attempt_renews_its_lease_so_a_longer_attempt_is_not_redelivered(
    wire_uri: str, target: HttpTarget
) -> None:
    """Lease 1 s, attempt 3 s, a second scheduler watching: renewal keeps it from re-running."""
    target.hang("/long", 3)
    with api_and_two_schedulers(
        wire_uri, scheduler_poll_interval_ms=200, job_lease_timeout_ms=1000, job_timeout_ms=8000
    ) as api:
        job_id = create_job(api, schedule=NEVER, endpoint=target.url("/long"), retryAttempts=0)
        api.post(f"/api/jobs/{job_id}/run")
        rows = settled(api, job_id, 1)
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "success")]
    assert len(target.requests_for("/long")) == 1


def test_a_ticks_release_goes_with_the_jobs_next_claim(
    wire_uri: str, target: HttpTarget
) -> None:
    """Every-second jobs: one write to the job per tick at most (the claim, which also
    releases the ticks before), not two; what is held at the stop is released then, and a
    tick claimed ahead with the one before and not started is given back (waiting)."""
    config = Config(mongodb_uri=wire_uri, allow_private_targets=True, rate_limit="off",
                    scheduler_poll_interval_ms=500, max_concurrent_jobs=8)  # fmt: skip
    app = create_app(open_runtime(config))
    writes, client, scheduler = counted_scheduler(config)
    api = app.test_client()
    try:
        scheduler.start()
        for i in range(5):
            create_job(api, schedule="* * * * * *", endpoint=target.url(f"/f{i}"),
                       retryAttempts=0)  # fmt: skip
        for i in range(5):
            target.wait_for_requests(f"/f{i}", 5, timeout_s=20)
    finally:
        scheduler.stop()
        client.close()
    database = get_runtime(app).database
    executed = database.job_executions.count_documents({})
    assert database.jobs.count_documents({"inflight.state": "running"}) == 0
    for document in database.jobs.find({"inflight.0": {"$exists": True}}):
        assert all(e["owner"] is None for e in document["inflight"]), "given back, waiting"
    get_runtime(app).close()
    assert executed >= 25
    assert writes.written["job_executions"] == executed
    # Without the fold: a claim and a release per tick (2 x executed).
    assert writes.written["jobs"] <= executed + 2 * 5, writes.written
