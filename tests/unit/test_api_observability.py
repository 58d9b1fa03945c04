"""``/api/observability``: health (with the database), stats, failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database
from pymongo.errors import NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from scheduler_service.runtime import get_runtime
from scheduler_service.stores.job_counts import JobCountStore
from tests.conftest import START

IDLE_SCHEDULER = {
    "isRunning": False, "runningJobs": 0, "maxConcurrentJobs": 10, "pollInterval": 1000
}


class FakeScheduler:
    def status(self) -> dict[str, Any]:
        return {"isRunning": True, "runningJobs": 3, "maxConcurrentJobs": 7, "pollInterval": 250}


def test_health_reports_scheduler_and_database(client: FlaskClient) -> None:
    response = client.get("/api/observability/health")

    assert response.status_code == 200
    body = response.json
    latency = body["database"].pop("latencyMs")
    assert isinstance(latency, int | float) and latency >= 0
    assert body == {
        "success": True,
        "status": "healthy",
        "timestamp": "2024-01-01T12:00:00.000Z",
        "scheduler": IDLE_SCHEDULER,
        "database": {"status": "connected", "kind": "injected"},
    }


def test_health_uses_the_running_scheduler(client: FlaskClient) -> None:
    get_runtime(client.application).scheduler = FakeScheduler()  # type: ignore[assignment]
    assert client.get("/api/observability/health").json["scheduler"] == FakeScheduler().status()


@pytest.mark.parametrize(
    "exc",
    [ServerSelectionTimeoutError("no servers"), NetworkTimeout("timed out"),
     OperationFailure("auth failed", 18)],
)  # fmt: skip
def test_health_is_503_when_the_database_ping_fails(
    client: FlaskClient, mongo_db: Database, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(mongo_db, "command", fail)
    response = client.get("/api/observability/health")

    assert response.status_code == 503
    assert response.json == {
        "success": False,
        "status": "unhealthy",
        "timestamp": "2024-01-01T12:00:00.000Z",
        "scheduler": IDLE_SCHEDULER,
        "database": {"status": "disconnected", "kind": "injected"},
        "error": {"code": "UNAVAILABLE", "message": "database unavailable", "details": {}},
    }


def add_execution(db: Database, job_id: ObjectId, status: str, minutes_ago: float) -> None:
    started = START - timedelta(minutes=minutes_ago)
    db["job_executions"].insert_one({
        "jobId": job_id, "status": status, "startedAt": started, "scheduledAt": started,
        "completedAt": None if status == "running" else started + timedelta(seconds=1),
        "duration": None if status == "running" else 1000, "attempt": 1,
        "responseCode": 500 if status == "failure" else 200,
        "errorMessage": "HTTP 500" if status == "failure" else None,
    })  # fmt: skip


def test_stats_counts_executions_jobs_and_skipped_ticks(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = ObjectId()
    for status, minutes_ago in [("success", 1), ("success", 60 * 30), ("failure", 5),
                                ("failure", 60 * 25)]:  # fmt: skip
        add_execution(mongo_db, job_id, status, minutes_ago)
    # Attempts in flight have no record until they end: their jobs' running entries count.
    running = {"id": ObjectId(), "state": "running", "dueAt": START, "attempt": 1}
    waiting = {"id": ObjectId(), "state": "waiting", "dueAt": START, "attempt": 2}
    mongo_db["jobs"].insert_many([
        {"schedule": "* * * * *", "enabled": True, "skippedTicks": 4, "createdAt": START,
         "inflight": [running, waiting]},
        {"schedule": "* * * * *", "enabled": False, "skippedTicks": 1, "createdAt": START,
         "inflight": [waiting]},
        {"schedule": "* * * * *", "enabled": True, "createdAt": START, "inflight": []},
    ])  # fmt: skip
    # Written around the API: the kept counts learn of them by a recount.
    JobCountStore(mongo_db).recount(mongo_db["jobs"])

    body = client.get("/api/observability/stats").json

    assert body == {
        "success": True,
        "data": {
            "executions": {"total": 5, "successful": 2, "failed": 2, "running": 1,
                           "last24Hours": 3},
            "scheduler": {**IDLE_SCHEDULER, "skippedTicks": 5},
            "jobs": {"total": 3, "enabled": 2},
            "deadLetters": {"total": 0, "dead": 0},
        },
    }  # fmt: skip


def test_stats_uses_the_running_scheduler(client: FlaskClient) -> None:
    get_runtime(client.application).scheduler = FakeScheduler()  # type: ignore[assignment]
    scheduler = client.get("/api/observability/stats").json["data"]["scheduler"]
    assert scheduler == {**FakeScheduler().status(), "skippedTicks": 0}


def test_failures_are_newest_first_and_limited(client: FlaskClient, mongo_db: Database) -> None:
    job_id = ObjectId()
    for status, minutes_ago in [("failure", 30), ("success", 1), ("failure", 2),
                                ("failure", 10), ("running", 0)]:  # fmt: skip
        add_execution(mongo_db, job_id, status, minutes_ago)

    data = client.get("/api/observability/failures").json["data"]
    assert [e["startedAt"] for e in data] == [
        "2024-01-01T11:58:00.000Z", "2024-01-01T11:50:00.000Z", "2024-01-01T11:30:00.000Z",
    ]  # fmt: skip
    assert all(e["status"] == "failure" and e["jobId"] == str(job_id) for e in data)
    assert data[0]["errorMessage"] == "HTTP 500"

    limited = client.get("/api/observability/failures?limit=1").json["data"]
    assert [e["startedAt"] for e in limited] == ["2024-01-01T11:58:00.000Z"]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_failures_rejects_a_bad_limit(client: FlaskClient, limit: str) -> None:
    response = client.get(f"/api/observability/failures?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json["error"]["details"]
