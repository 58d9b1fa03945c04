"""One-off jobs, time zones, bad input and the list's filters on the real wire server, with
the scheduler running against a real HTTP target on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.clock import iso_utc
from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


# The ``service`` fixture's (tests/integration/conftest.py).
SERVICE_SETTINGS = {"scheduler_poll_interval_ms": 300, "job_timeout_ms": 1500}


def job_of(api: FlaskClient, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = api.get(f"/api/jobs/{job_id}").get_json()["data"]
    return data


def executions(api: FlaskClient, job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.get(f"/api/jobs/{job_id}/executions").get_json()["data"]
    return rows


def in_a_moment(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return iso_utc(when.replace(microsecond=0) + timedelta(seconds=1)) or ""


def test_a_one_off_fires_once_then_is_disabled(api: FlaskClient, target: HttpTarget) -> None:
    run_at = in_a_moment(0.5)
    job = created_job(api, runAt=run_at, endpoint=target.url("/once"), retryAttempts=0)
    assert (job["schedule"], job["nextRunAt"], job["enabled"]) == (None, run_at, True)
    received = target.wait_for_requests("/once", 1, timeout_s=10)
    assert received[0].header("X-Scheduler-Scheduled-At") == run_at

    def finished() -> dict[str, Any] | None:
        current = job_of(api, job["jobId"])
        rows = executions(api, job["jobId"])
        done = rows and rows[0]["status"] == "success"
        return current if done and not current["enabled"] else None

    final = wait_until(finished, timeout_s=10, message="the one-off settled and disabled")
    assert (final["enabled"], final["nextRunAt"], final["runAt"]) == (False, None, run_at)
    # Nothing can fire it again: it has no tick left.
    assert len(target.requests_for("/once")) == 1
    assert [row["scheduledAt"] for row in executions(api, job["jobId"])] == [run_at]


def test_a_one_offs_retries_still_happen_after_its_claim_disabled_it(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond_sequence("/flaky-once", [500, 200])
    job = created_job(api, runAt=in_a_moment(0.5), endpoint=target.url("/flaky-once"),
                 retryAttempts=2, retryDelay=200)  # fmt: skip
    received = target.wait_for_requests("/flaky-once", 2, timeout_s=10)
    assert [r.header("X-Scheduler-Attempt") for r in received] == ["1", "2"]
    assert len({r.header("Idempotency-Key") for r in received}) == 1
    assert job_of(api, job["jobId"])["enabled"] is False


def test_a_schedule_in_a_zone_fires_on_that_zones_clock(api: FlaskClient,
                                                          target: HttpTarget) -> None:  # fmt: skip
    # Every second, but only in one minute of Kolkata's wall clock (UTC+05:30): the one
    # 15 s from now, so the first tick comes within 15 s.
    soon = datetime.now(UTC) + timedelta(seconds=15)
    kolkata_minute = (soon + timedelta(hours=5, minutes=30)).minute
    job = created_job(api, schedule=f"* {kolkata_minute} * * * *", timezone="Asia/Kolkata",
                 endpoint=target.url("/zoned"))  # fmt: skip
    assert job["nextRunAt"] is not None
    first = target.wait_for_requests("/zoned", 1, timeout_s=25)[0]
    scheduled = datetime.fromisoformat(str(first.header("X-Scheduler-Scheduled-At")))
    assert scheduled.minute == (kolkata_minute - 30) % 60  # the UTC minute it falls in


BAD_INPUT = [
    ("post", "/api/jobs", {"schedule": "@daily", "timezone": "Mars/Olympus"}, "timezone"),
    ("post", "/api/jobs", {"schedule": "@daily", "runAt": "2099-01-01T00:00:00Z"}, "runAt"),
    ("post", "/api/jobs", {"schedule": "@daily", "startAt": "2099-01-02T00:00:00Z",
                           "endAt": "2099-01-01T00:00:00Z"}, "endAt"),
    ("post", "/api/jobs", {"schedule": "@daily", "tags": ["has space"]}, "tags"),
    ("get", "/api/schedules/preview?schedule=@daily&count=51", None, "count"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_INPUT)
def test_bad_input_gets_the_contracts_400_and_changes_nothing(
    api: FlaskClient, wire_db: Database, method: str, path: str, body: Any, field: str
) -> None:
    before = list(wire_db["jobs"].find({}))
    kwargs = {} if body is None else {"json": {"endpoint": "http://127.0.0.1:9/x", **body}}
    response = api.open(path, method=method.upper(), **kwargs)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["success"] is False and payload["error"]["code"] == "VALIDATION_ERROR"
    assert field in payload["error"]["details"]
    assert list(wire_db["jobs"].find({})) == before


def test_filters_return_exactly_the_matching_jobs(api: FlaskClient) -> None:
    specs = [
        ("a-billing-nightly", ["billing", "nightly"], True),
        ("b-billing", ["billing"], False),
        ("c-reports", ["reports", "nightly"], True),
        ("d-none", [], True),
        ("e-billing-eu", ["billing", "eu", "nightly"], True),
    ]
    for name, tags, enabled in specs:
        created_job(api, schedule="0 0 0 1 1 *", endpoint="http://127.0.0.1:9/x", name=name,
               tags=tags, enabled=enabled)  # fmt: skip

    def names(query: str) -> set[str]:
        response = api.get(f"/api/jobs?{query}&limit=100")
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        assert data["pagination"]["total"] == len(data["data"])
        return {job["name"] for job in data["data"]}

    every = {name for name, _, _ in specs}
    for query, expected in [
        ("tag=billing", {n for n, t, _ in specs if "billing" in t}),
        ("tag=billing&tag=nightly", {n for n, t, _ in specs if {"billing", "nightly"} <= set(t)}),
        ("enabled=false", {n for n, _, e in specs if not e}),
        ("enabled=true&tag=nightly", {n for n, t, e in specs if e and "nightly" in t}),
        ("q=BILLING", {n for n, _, _ in specs if "billing" in n}),
        ("q=127.0.0.1:9", every),
        ("q=zzz", set()),
        ("sort=name", every),
        ("sort=-nextRunAt", every),
    ]:
        assert names(query) == expected, query
    ordered = [j["name"] for j in api.get("/api/jobs?sort=-name").get_json()["data"]]
    assert ordered == sorted(every, reverse=True)
