"""``/api/jobs`` against mongomock with the fixed clock (2024-01-01T12:00:00Z)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from tests.conftest import START
from tests.support.api_jobs import JOB, create

MASKED = {"Authorization": "Bearer ***", "X-Api-Key": "***", "Accept": "text/plain"}
JOB_FIELDS = {
    "jobId", "schedule", "endpoint", "method", "headers", "body", "executionType", "enabled",
    "retryAttempts", "retryDelay", "retryDelayMax", "timeoutMs", "concurrencyPolicy",
    "missedRunPolicy", "alertEndpoint", "signingSecret", "nextRunAt",
    "lastRunAt", "createdAt", "updatedAt",
    "name", "description", "tags", "runAt", "timezone", "jitterMs", "startAt", "endAt",
    "onSuccess", "onFailure", "priority",
}  # fmt: skip
UNKNOWN_ID = "0123456789abcdef01234567"


def test_create_answers_201_with_the_full_job_and_defaults(client: FlaskClient) -> None:
    response = client.post("/api/jobs", json=JOB)

    assert response.status_code == 201
    assert response.json["success"] is True
    job = response.json["data"]
    assert set(job) == JOB_FIELDS
    assert ObjectId.is_valid(job["jobId"])
    assert response.headers["Location"] == f"/api/jobs/{job['jobId']}"
    assert job == {
        "jobId": job["jobId"],
        "schedule": "0 */5 * * * *",
        "endpoint": "https://api.example.com/webhook",
        "method": "POST",
        "headers": MASKED,
        "body": JOB["body"],
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "retryAttempts": 3,
        "retryDelay": 5000,
        "retryDelayMax": 3_600_000,
        "timeoutMs": 30_000,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "alertEndpoint": None,
        "signingSecret": None,
        "nextRunAt": "2024-01-01T12:05:00.000Z",
        "lastRunAt": None,
        "createdAt": "2024-01-01T12:00:00.000Z",
        "updatedAt": "2024-01-01T12:00:00.000Z",
        "name": "POST api.example.com",
        "description": "",
        "tags": [],
        "runAt": None,
        "timezone": "UTC",
        "jitterMs": 0,
        "startAt": None,
        "endAt": None,
        "onSuccess": [],
        "onFailure": [],
        "priority": 5,
    }


def test_a_created_jobs_location_is_where_url_for_puts_it_under_a_mount_point(
    client: FlaskClient,
) -> None:
    response = client.post("/api/jobs", json=JOB, base_url="http://localhost/scheduler")

    assert response.status_code == 201
    job_id = response.json["data"]["jobId"]
    assert response.headers["Location"] == f"/scheduler/api/jobs/{job_id}"
    assert client.get(f"/api/jobs/{job_id}").status_code == 200


def test_create_with_explicit_values_and_disabled_has_no_next_run(client: FlaskClient) -> None:
    job = create(client, method="put", enabled=False, retryAttempts=0, retryDelay=0,
                 executionType="AT_MOST_ONCE", headers={})  # fmt: skip
    assert (job["method"], job["enabled"], job["nextRunAt"]) == ("PUT", False, None)
    assert (job["retryAttempts"], job["retryDelay"], job["executionType"]) == (0, 0, "AT_MOST_ONCE")


def test_secret_headers_are_masked_everywhere_but_stored_raw(
    client: FlaskClient, mongo_db: Database
) -> None:
    job = create(client)
    job_id = job["jobId"]

    assert client.get(f"/api/jobs/{job_id}").json["data"]["headers"] == MASKED
    assert client.get("/api/jobs").json["data"][0]["headers"] == MASKED
    updated = client.put(f"/api/jobs/{job_id}", json={"enabled": False}).json["data"]
    assert updated["headers"] == MASKED
    stored = mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert stored["headers"] == JOB["headers"]


def test_list_is_newest_first_and_paginated(client: FlaskClient, clock: FixedClock) -> None:
    ids = []
    for _ in range(3):
        ids.append(create(client)["jobId"])
        clock.advance(seconds=1)

    first = client.get("/api/jobs?page=1&limit=2").json
    assert [job["jobId"] for job in first["data"]] == [ids[2], ids[1]]
    assert first["pagination"].pop("nextCursor")  # page 2 walks on from it (wire tests)
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2,
                                   "totalExact": True, "complete": True}  # fmt: skip
    second = client.get("/api/jobs?page=2&limit=2").json
    assert [job["jobId"] for job in second["data"]] == [ids[0]]
    beyond = client.get("/api/jobs?page=5&limit=2").json
    assert beyond["data"] == [] and beyond["pagination"]["total"] == 3


def test_list_defaults_and_empty(client: FlaskClient) -> None:
    body = client.get("/api/jobs").json
    assert body == {
        "success": True,
        "data": [],
        "pagination": {"page": 1, "limit": 20, "total": 0, "totalPages": 0,
                       "totalExact": True, "complete": True, "nextCursor": None},
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=abc", "page"), ("limit=0", "limit"), ("limit=101", "limit"),
     ("limit=2.5", "limit"), ("page=-1&limit=10", "page")],
)  # fmt: skip
def test_bad_page_or_limit_is_a_400_naming_it(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json["error"]["details"]


def test_get_returns_the_job(client: FlaskClient) -> None:
    job = create(client)
    response = client.get(f"/api/jobs/{job['jobId']}")
    assert response.status_code == 200
    assert response.json == {"success": True, "data": job}


@pytest.mark.parametrize("job_id", [UNKNOWN_ID, "not-an-id", "123", "g" * 24, UNKNOWN_ID + "0"])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("get", "", None), ("put", "", {"enabled": False}), ("delete", "", None),
     ("get", "/executions", None), ("post", "/run", None)],
)  # fmt: skip
def test_unknown_or_malformed_ids_are_404(
    client: FlaskClient, job_id: str, method: str, suffix: str, body: Any
) -> None:
    create(client)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(f"/api/jobs/{job_id}{suffix}", **kwargs)
    assert response.status_code == 404
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "NOT_FOUND"


def test_update_is_partial_and_recomputes_next_run(client: FlaskClient, clock: FixedClock) -> None:
    job = create(client)
    url = f"/api/jobs/{job['jobId']}"
    clock.set(START + timedelta(minutes=7))

    retry_only = client.put(url, json={"retryAttempts": 5}).json["data"]
    assert retry_only["retryAttempts"] == 5
    assert retry_only["nextRunAt"] == "2024-01-01T12:05:00.000Z"  # schedule unchanged: kept
    assert retry_only["schedule"] == JOB["schedule"]
    assert retry_only["updatedAt"] == "2024-01-01T12:07:00.000Z"
    assert retry_only["createdAt"] == "2024-01-01T12:00:00.000Z"

    rescheduled = client.put(url, json={"schedule": "0 */10 * * * *"}).json["data"]
    assert rescheduled["nextRunAt"] == "2024-01-01T12:10:00.000Z"

    disabled = client.put(url, json={"enabled": False}).json["data"]
    assert disabled["enabled"] is False and disabled["nextRunAt"] is None

    clock.set(START + timedelta(minutes=12))
    enabled = client.put(url, json={"enabled": True}).json["data"]
    assert enabled["nextRunAt"] == "2024-01-01T12:20:00.000Z"


def test_update_rejects_bad_fields_and_empty_bodies(
    client: FlaskClient, mongo_db: Database
) -> None:
    job = create(client)
    url = f"/api/jobs/{job['jobId']}"
    before = mongo_db["jobs"].find_one()

    cases = [({"schedule": "nope"}, "schedule"), ({"retryAttempts": 11}, "retryAttempts"),
             ({"bogus": 1}, "bogus"), ({}, "_schema")]  # fmt: skip
    for body, field in cases:
        response = client.put(url, json=body)
        assert response.status_code == 400, body
        assert field in response.json["error"]["details"], body
    assert mongo_db["jobs"].find_one() == before


def test_delete_answers_200_then_404_and_keeps_executions(
    client: FlaskClient, mongo_db: Database
) -> None:
    job = create(client)
    job_id = job["jobId"]
    mongo_db["job_executions"].insert_one(
        {"jobId": ObjectId(job_id), "status": "success", "startedAt": START, "attempt": 1}
    )

    response = client.delete(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"jobId": job_id, "deleted": True}}
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert client.delete(f"/api/jobs/{job_id}").status_code == 404
    assert client.get(f"/api/jobs/{job_id}/executions").status_code == 404
    assert mongo_db["job_executions"].count_documents({"jobId": ObjectId(job_id)}) == 1


@pytest.mark.parametrize("schedule", ["0 0 0 1 * 1#1", "0 0 0 28-3 * *", "0 0 5-5 * * *"])
def test_cron_forms_with_no_single_reading_are_a_400_naming_schedule(
    client: FlaskClient, mongo_db: Database, schedule: str
) -> None:
    response = client.post("/api/jobs", json={**JOB, "schedule": schedule})
    assert response.status_code == 400
    assert list(response.json["error"]["details"]) == ["schedule"]
    assert mongo_db["jobs"].count_documents({}) == 0


def test_retry_cap_timeout_and_alert_endpoint_are_checked(client: FlaskClient) -> None:
    job = create(client, retryDelayMax=60_000, timeoutMs=1000,
                 alertEndpoint="https://alerts.example.com/hook")  # fmt: skip
    assert (job["retryDelayMax"], job["timeoutMs"]) == (60_000, 1000)
    assert job["alertEndpoint"] == "https://alerts.example.com/hook"
    bad = client.post("/api/jobs", json={**JOB, "retryDelayMax": 86_400_001, "timeoutMs": 999,
                                         "alertEndpoint": "ftp://x"})  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json["error"]["details"]) == {"retryDelayMax", "timeoutMs", "alertEndpoint"}
    # timeoutMs may not pass JOB_TIMEOUT (30 s here), which the schema does not know: every
    # refusal states the real bounds (not the schema's 3600000).
    message = "Must be from 1000 to JOB_TIMEOUT (30000) ms."
    assert bad.json["error"]["details"]["timeoutMs"] == [message]
    for value in (30_001, 999, 3_600_001, "5000"):
        over = client.put(f"/api/jobs/{job['jobId']}", json={"timeoutMs": value})
        assert over.status_code == 400
        assert over.json["error"]["details"] == {"timeoutMs": [message]}
    cleared = client.put(f"/api/jobs/{job['jobId']}", json={"alertEndpoint": None})
    assert cleared.json["data"]["alertEndpoint"] is None
