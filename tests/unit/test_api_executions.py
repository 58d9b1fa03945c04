"""``GET /api/jobs/:jobId/executions`` against mongomock with the fixed clock
(2024-01-01T12:00:00Z): the attempts recorded, and those in flight."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from tests.conftest import START
from tests.support.api_jobs import create


def test_executions_are_newest_first_and_limited(client: FlaskClient, mongo_db: Database) -> None:
    job_id = create(client)["jobId"]
    other_id = create(client)["jobId"]
    for minutes in (0, 10, 5):
        mongo_db["job_executions"].insert_one({
            "jobId": ObjectId(job_id), "status": "failure", "attempt": 1,
            "startedAt": START + timedelta(minutes=minutes),
            "scheduledAt": START + timedelta(minutes=minutes),
            "completedAt": START + timedelta(minutes=minutes, seconds=2), "duration": 2000,
            "responseCode": 500, "responseBody": "oops", "errorMessage": "HTTP 500",
        })  # fmt: skip
    mongo_db["job_executions"].insert_one(
        {"jobId": ObjectId(other_id), "status": "success", "startedAt": START, "attempt": 1}
    )

    body = client.get(f"/api/jobs/{job_id}/executions").json
    assert [e["startedAt"] for e in body["data"]] == [
        "2024-01-01T12:10:00.000Z", "2024-01-01T12:05:00.000Z", "2024-01-01T12:00:00.000Z",
    ]  # fmt: skip
    first = body["data"][0]
    assert first["jobId"] == job_id and ObjectId.is_valid(first["_id"])
    assert first["completedAt"] == "2024-01-01T12:10:02.000Z"
    assert (first["duration"], first["responseCode"], first["attempt"]) == (2000, 500, 1)
    assert (first["status"], first["errorMessage"]) == ("failure", "HTTP 500")

    limited = client.get(f"/api/jobs/{job_id}/executions?limit=2").json["data"]
    assert [e["startedAt"] for e in limited] == [
        "2024-01-01T12:10:00.000Z", "2024-01-01T12:05:00.000Z",
    ]  # fmt: skip
    assert client.get(f"/api/jobs/{job_id}/executions?limit=0").status_code == 400
    assert client.get(f"/api/jobs/{job_id}/executions?limit=101").status_code == 400


def test_executions_include_attempts_in_flight_under_the_id_of_their_record(
    client: FlaskClient, mongo_db: Database
) -> None:
    from scheduler_service.records import Entry, ExecutionRecord, Status

    def attempt_record(job_id: ObjectId, entry: dict[str, Any], status: str,
                       **result: Any) -> dict[str, Any]:  # fmt: skip
        typed = Entry.from_document({"state": "running", "dueAt": entry["startedAt"], **entry})
        return ExecutionRecord(
            ExecutionRecord.id_for(job_id, typed), job_id, typed.started_at, Status(status),
            typed.attempt, typed.scheduled_at, **result,
        ).to_document()  # fmt: skip

    job_id = ObjectId(create(client)["jobId"])
    running = {"id": ObjectId(), "scheduledAt": START + timedelta(minutes=4), "attempt": 2,
               "state": "running", "dueAt": START + timedelta(minutes=6), "owner": "p:1",
               "startedAt": START + timedelta(minutes=4, seconds=30)}  # fmt: skip
    waiting = {**running, "id": ObjectId(), "state": "waiting", "attempt": 1}
    mongo_db["jobs"].update_one({"_id": job_id}, {"$set": {"inflight": [running, waiting]}})
    for minutes in (0, 10):
        ended = {"id": ObjectId(), "scheduledAt": START + timedelta(minutes=minutes), "attempt": 1,
                 "startedAt": START + timedelta(minutes=minutes)}  # fmt: skip
        mongo_db["job_executions"].insert_one(
            attempt_record(job_id, ended, "success", duration=5)
        )

    data = client.get(f"/api/jobs/{job_id}/executions").json["data"]
    assert [(e["startedAt"], e["status"]) for e in data] == [
        ("2024-01-01T12:10:00.000Z", "success"),
        ("2024-01-01T12:04:30.000Z", "running"),
        ("2024-01-01T12:00:00.000Z", "success"),
    ]  # fmt: skip
    in_flight = data[1]
    assert in_flight["_id"] == str(ExecutionRecord.id_for(job_id, Entry.from_document(running)))
    assert (in_flight["attempt"], in_flight["scheduledAt"]) == (2, "2024-01-01T12:04:00.000Z")
    assert in_flight["completedAt"] is None and in_flight["duration"] is None
    # Once it ends, its record replaces it (same id, listed once).
    mongo_db["job_executions"].insert_one(
        attempt_record(job_id, running, "failure", error_message="HTTP 500")
    )
    data = client.get(f"/api/jobs/{job_id}/executions").json["data"]
    assert [e["status"] for e in data] == ["success", "failure", "success"]
    assert data[1]["_id"] == in_flight["_id"]
    limited = client.get(f"/api/jobs/{job_id}/executions?limit=1").json["data"]
    assert [e["startedAt"] for e in limited] == ["2024-01-01T12:10:00.000Z"]
