"""Attempts that fail, end to end (real wire server, real HTTP target on 127.0.0.1, real
clock): retries with backoff and its cap, what is not retried (a 404, an at-most-once job),
a hanging target cut at the timeout, a refused connection. The rest: test_scheduler.py."""

from __future__ import annotations

from itertools import pairwise

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from tests.support.http_target import HttpTarget
from tests.support.in_process import END_TO_END, NEVER, create_job, running_service, settled
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SERVICE_SETTINGS = END_TO_END  # the ``service`` fixture's (tests/integration/conftest.py)


def test_retries_on_500_with_backoff_and_the_same_idempotency_key(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond_sequence("/flaky", [500, 503, 200])
    job_id = create_job(
        api, schedule=NEVER, endpoint=target.url("/flaky"), retryAttempts=3, retryDelay=300
    )
    run = api.post(f"/api/jobs/{job_id}/run")
    assert run.status_code == 202
    received = target.wait_for_requests("/flaky", 3, timeout_s=15)
    assert len({r.header("Idempotency-Key") for r in received}) == 1
    assert [r.header("X-Scheduler-Attempt") for r in received] == ["1", "2", "3"]
    gaps = [b.monotonic - a.monotonic for a, b in pairwise(received)]
    assert 0.3 <= gaps[0] < 0.3 + 0.5  # retryDelay * 2^0, give or take scheduling
    assert 0.6 <= gaps[1] < 0.6 + 0.5  # retryDelay * 2^1
    rows = settled(api, job_id, 3)
    assert [(r["attempt"], r["status"], r["responseCode"]) for r in rows] == [
        (1, "failure", 500),
        (2, "failure", 503),
        (3, "success", 200),
    ]
    assert rows[0]["errorMessage"] == "HTTP 500 Internal Server Error"
    assert {r["scheduledAt"] for r in rows} == {run.get_json()["data"]["scheduledAt"]}
    job = api.get(f"/api/jobs/{job_id}").get_json()["data"]
    assert job["nextRunAt"] > rows[-1]["completedAt"], "the regular schedule is not shifted"


def test_a_retry_waits_at_most_job_retry_delay_max(wire_uri: str, target: HttpTarget) -> None:
    """retryDelay is an hour, the cap a second: the retry comes after the cap, not the hour."""
    target.respond_sequence("/capped", [500, 200])
    with running_service(wire_uri, scheduler_poll_interval_ms=500, job_timeout_ms=1500,
                         job_retry_delay_max_ms=1000) as app:  # fmt: skip
        api = app.test_client()
        job_id = create_job(api, schedule=NEVER, endpoint=target.url("/capped"),
                            retryAttempts=1, retryDelay=3_600_000)  # fmt: skip
        assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
        first, second = target.wait_for_requests("/capped", 2, timeout_s=15)
        assert second.monotonic - first.monotonic >= 1.0
        assert [r["status"] for r in settled(api, job_id, 2)] == ["failure", "success"]


def test_404_is_not_retried(api: FlaskClient, target: HttpTarget, wire_db: Database) -> None:
    target.respond("/gone", status=404)
    job_id = create_job(
        api, schedule=NEVER, endpoint=target.url("/gone"), retryAttempts=3, retryDelay=100
    )
    api.post(f"/api/jobs/{job_id}/run")
    rows = settled(api, job_id, 1)
    wait_until(
        lambda: wire_db.jobs.find_one()["inflight"] == [],
        timeout_s=5,
        message="the tick is settled with no retry queued",
    )
    assert len(target.requests_for("/gone")) == 1
    assert (rows[0]["status"], rows[0]["responseCode"]) == ("failure", 404)


def test_hanging_target_is_cut_at_the_timeout(api: FlaskClient, target: HttpTarget) -> None:
    target.hang("/slow", 10)
    job_id = create_job(api, schedule=NEVER, endpoint=target.url("/slow"), retryAttempts=0)
    api.post(f"/api/jobs/{job_id}/run")
    row = settled(api, job_id, 1)[0]
    assert row["status"] == "failure"
    assert "timeout" in row["errorMessage"]
    assert 1500 <= row["duration"] < 4000


def test_connection_refused_is_a_recorded_failure(api: FlaskClient) -> None:
    closed = f"http://127.0.0.1:{free_port()}/x"  # nothing listens there
    job_id = create_job(api, schedule=NEVER, endpoint=closed, retryAttempts=0)
    api.post(f"/api/jobs/{job_id}/run")
    row = settled(api, job_id, 1)[0]
    assert row["status"] == "failure"
    assert row["errorMessage"] == "connection refused"
    assert row["responseCode"] is None


def test_at_most_once_is_not_retried_after_a_failure(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    target.respond("/once", status=500)
    job_id = create_job(api, schedule=NEVER, endpoint=target.url("/once"),
                        executionType="AT_MOST_ONCE", retryAttempts=3, retryDelay=100)
    api.post(f"/api/jobs/{job_id}/run")
    rows = settled(api, job_id, 1)
    wait_until(lambda: wire_db.jobs.find_one()["inflight"] == [], timeout_s=5,
               message="the tick is settled with no retry queued")
    assert [(r["attempt"], r["status"], r["responseCode"]) for r in rows] == [(1, "failure", 500)]
    assert len(target.requests_for("/once")) == 1
