"""``POST /api/jobs/:jobId/run`` queues a manual tick at now, which disabling the job
cancels; it reads its body: none or ``{}`` runs the job; a field, a malformed or non-object
body, or another content type is refused and queues nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from tests.conftest import START
from tests.support.api_jobs import create


@pytest.mark.parametrize(("body", "content_type"), [(None, None), ("", "application/json"),
                                                      ("{}", "application/json")])  # fmt: skip
def test_a_run_takes_no_body_or_an_empty_object(
    client: FlaskClient, mongo_db: Database, body: str | None, content_type: str | None
) -> None:
    job_id = create(client)["jobId"]
    response = client.post(f"/api/jobs/{job_id}/run", data=body, content_type=content_type)
    assert response.status_code == 202, response.json
    assert len(mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"]) == 1


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    ('{"body": {"x": 1}}', "application/json", 400, "body"),  # no fields: any is unknown
    ("[]", "application/json", 400, "_schema"),
    ("{x", "application/json", 400, None),  # malformed
    ("x=1", "text/plain", 415, None),
    ("{}", "application/x-www-form-urlencoded", 415, None),
])  # fmt: skip
def test_a_bad_run_body_is_refused_and_queues_nothing(
    client: FlaskClient, mongo_db: Database, body: str, content_type: str, status: int,
    field: str | None,
) -> None:  # fmt: skip
    job_id = create(client)["jobId"]
    response = client.post(f"/api/jobs/{job_id}/run", data=body, content_type=content_type)
    assert response.status_code == status, response.json
    assert response.json["success"] is False
    if field is not None:
        assert field in response.json["error"]["details"]
    assert mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"] == []


@pytest.mark.parametrize("job_id", ["nope", "0" * 23, "6b0c08e1a71faa26c200a8dZ"])
def test_an_id_that_is_not_one_is_a_404_whatever_the_body(client: FlaskClient,
                                                          job_id: str) -> None:  # fmt: skip
    # The contract: an id that is not an ObjectId answers 404, as PUT /api/jobs/nope does;
    # the body was read first, so a bad one made it a 400 (or 415) here only.
    for body, content_type in (('{"x": 1}', "application/json"), ("x", "text/plain")):
        response = client.post(f"/api/jobs/{job_id}/run", data=body, content_type=content_type)
        assert (response.status_code, response.json["error"]["code"]) == (404, "NOT_FOUND")


def test_run_now_queues_a_manual_tick_at_now(
    client: FlaskClient, mongo_db: Database, clock: FixedClock
) -> None:
    job_id = create(client, enabled=False)["jobId"]  # runs whatever `enabled` says
    clock.set(START + timedelta(seconds=42))

    response = client.post(f"/api/jobs/{job_id}/run")

    assert response.status_code == 202
    assert response.json == {
        "success": True,
        "data": {"jobId": job_id, "scheduledAt": "2024-01-01T12:00:42.000Z"},
    }
    stored = mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert len(stored["inflight"]) == 1
    entry = stored["inflight"][0]
    assert entry["scheduledAt"] == START + timedelta(seconds=42)
    assert (entry["manual"], entry["state"], entry["attempt"]) == (True, "waiting", 1)
    assert stored["nextRunAt"] is None  # the regular schedule is not touched


def test_disabling_cancels_waiting_retries_and_manual_runs_but_not_running_attempts(
    client: FlaskClient, mongo_db: Database
) -> None:
    created = client.post(
        "/api/jobs", json={"schedule": "0 */5 * * * *", "endpoint": "https://example.com/x"}
    ).get_json()["data"]
    job_id = created["jobId"]
    assert client.post(f"/api/jobs/{job_id}/run").status_code == 202
    running = {"id": ObjectId(), "state": "running", "owner": "p1", "attempt": 1,
               "scheduledAt": START, "dueAt": START + timedelta(minutes=1)}  # fmt: skip
    mongo_db.jobs.update_one({"_id": ObjectId(job_id)}, {"$push": {"inflight": running}})
    assert client.put(f"/api/jobs/{job_id}", json={"enabled": False}).status_code == 200
    inflight = mongo_db.jobs.find_one({"_id": ObjectId(job_id)})["inflight"]
    assert [entry["state"] for entry in inflight] == ["running"]
