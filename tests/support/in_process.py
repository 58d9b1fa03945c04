"""The service in the test process, on the session's wire server with its scheduler
running, for integration tests that drive it through the API against a real target:

    @pytest.fixture
    def service(wire_uri: str) -> Iterator[Flask]:
        with running_service(wire_uri, scheduler_poll_interval_ms=300) as app:
            yield app
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime
from tests.support.waiting import wait_until

# What every such test wants, unless it says otherwise.
SERVICE_DEFAULTS: dict[str, Any] = {
    "shutdown_grace_ms": 5000,
    "allow_private_targets": True,  # the targets are on 127.0.0.1
    "rate_limit": "off",  # the tests poll the API as fast as they like
}

# Manual runs end to end (``test_scheduler.py``, ``test_failed_attempts.py``): a poll every
# 500 ms, 4 workers, a 1.5 s attempt timeout.
END_TO_END: dict[str, Any] = {
    "scheduler_poll_interval_ms": 500, "max_concurrent_jobs": 4, "job_timeout_ms": 1500}
NEVER = "0 0 0 1 1 *"  # once a year: only manual runs fire


@contextmanager
def running_service(mongodb_uri: str, **settings: Any) -> Iterator[Flask]:
    """The app on ``mongodb_uri`` with SERVICE_DEFAULTS and ``settings`` (Config's field
    names), its scheduler started; closed (attempts in flight finished) on exit."""
    config = Config(mongodb_uri=mongodb_uri, **{**SERVICE_DEFAULTS, **settings})
    app = create_app(open_runtime(config))
    get_runtime(app).start_scheduler()
    try:
        yield app
    finally:
        get_runtime(app).close()


def created_job(api: FlaskClient, **fields: Any) -> dict[str, Any]:
    """``POST /api/jobs`` with ``fields``, which must answer 201; the job's representation."""
    response = api.post("/api/jobs", json=fields)
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def create_job(api: FlaskClient, **fields: Any) -> str:
    """``created_job``'s id."""
    return str(created_job(api, **fields)["jobId"])


def executions(api: FlaskClient, job_id: str) -> list[dict[str, Any]]:
    """The job's attempts as ``GET /api/jobs/:id/executions`` lists them (100 at most),
    oldest first."""
    response = api.get(f"/api/jobs/{job_id}/executions?limit=100")
    assert response.status_code == 200
    return list(reversed(response.get_json()["data"]))


def settled(api: FlaskClient, job_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` attempts of the job are listed and none is still running;
    return them, oldest first."""

    def done() -> list[dict[str, Any]] | None:
        rows = executions(api, job_id)
        if len(rows) >= count and all(r["status"] != "running" for r in rows):
            return rows
        return None

    return wait_until(done, timeout_s=20, message=f"{count} settled executions of {job_id}")
