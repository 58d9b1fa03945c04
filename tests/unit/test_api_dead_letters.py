"""``/api/dead-letters`` against mongomock with the fixed clock (2024-01-01T12:00:00Z)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from tests.conftest import START
from tests.support.dead_letters import dead
from tests.support.openapi import check_response, spec_of

JOB = {"schedule": "0 0 0 1 1 *", "endpoint": "https://api.example.com/hook", "retryAttempts": 2}
UNKNOWN_ID = "0123456789abcdef01234567"
FIELDS = {
    "deadLetterId", "jobId", "name", "scheduledAt", "idempotencyKey", "attempts",
    "lastAttempt", "request", "reason", "state", "alert", "createdAt", "updatedAt",
}  # fmt: skip


def create_job(client: FlaskClient) -> str:
    response = client.post("/api/jobs", json=JOB)
    assert response.status_code == 201, response.json
    return str(response.json["data"]["jobId"])


def states(mongo_db: Database) -> dict[str, str]:
    return {str(doc["_id"]): doc["state"] for doc in mongo_db["dead_letters"].find()}


def test_list_is_newest_first_paginated_and_filtered(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_a, job_b = create_job(client), create_job(client)
    first, second = dead(mongo_db, job_a, 0), dead(mongo_db, job_a, 1)
    third = dead(mongo_db, job_b, 2)

    body = client.get("/api/dead-letters?limit=2").json
    assert [item["deadLetterId"] for item in body["data"]] == [third, second]
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    assert set(body["data"][0]) == FIELDS

    only_a = client.get(f"/api/dead-letters?jobId={job_a}").json
    assert [item["deadLetterId"] for item in only_a["data"]] == [second, first]
    assert only_a["pagination"]["total"] == 2
    assert client.get("/api/dead-letters?state=replayed").json["data"] == []
    assert len(client.get("/api/dead-letters?state=dead").json["data"]) == 3


@pytest.mark.parametrize("query, field", [
    ("state=gone", "state"), ("jobId=xyz", "jobId"), ("limit=0", "limit"), ("page=0", "page"),
])  # fmt: skip
def test_a_bad_query_is_a_400_naming_it(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/dead-letters?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json["error"]["details"]


def test_get_shows_the_tick_the_last_attempt_and_the_masked_request(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)

    data = client.get(f"/api/dead-letters/{dead_letter_id}").json["data"]

    assert data["jobId"] == job_id
    assert data["scheduledAt"] == "2024-01-01T11:00:00.000Z"
    assert data["state"] == "dead"
    assert data["attempts"] == 3
    assert data["lastAttempt"]["responseCode"] == 500
    assert data["lastAttempt"]["attempt"] == 3
    assert data["request"]["headers"]["Authorization"] == "Bearer ***"


@pytest.mark.parametrize("dead_letter_id", [UNKNOWN_ID, "not-an-id", "0" * 25])
def test_unknown_or_malformed_ids_are_404(client: FlaskClient, dead_letter_id: str) -> None:
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/replay")]:
        response = client.open(f"/api/dead-letters/{dead_letter_id}{path}", method=method)
        assert response.status_code == 404, (method, response.json)
        assert response.json["error"]["code"] == "NOT_FOUND"


def test_delete_answers_200_then_404(client: FlaskClient, mongo_db: Database) -> None:
    dead_letter_id = dead(mongo_db, create_job(client))
    response = client.delete(f"/api/dead-letters/{dead_letter_id}")
    assert response.status_code == 200
    assert response.json["data"] == {"deadLetterId": dead_letter_id, "deleted": True}
    assert client.get(f"/api/dead-letters/{dead_letter_id}").status_code == 404


def test_delete_while_a_replay_is_in_flight_is_a_409_and_changes_nothing(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)
    client.post(f"/api/dead-letters/{dead_letter_id}/replay")

    response = client.delete(f"/api/dead-letters/{dead_letter_id}")

    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "CONFLICT"
    assert states(mongo_db) == {dead_letter_id: "replaying"}
    assert client.get(f"/api/dead-letters/{dead_letter_id}").status_code == 200


def test_a_replaying_dead_letter_that_no_replay_will_end_may_be_deleted(
    client: FlaskClient, mongo_db: Database, clock: FixedClock
) -> None:
    lost_job, gone_job = create_job(client), create_job(client)
    lost, gone = dead(mongo_db, lost_job), dead(mongo_db, gone_job, 1)
    for dead_letter_id in (lost, gone):
        client.post(f"/api/dead-letters/{dead_letter_id}/replay")
    client.put(f"/api/jobs/{lost_job}", json={"enabled": False})  # cancels its replay
    client.delete(f"/api/jobs/{gone_job}")
    assert client.delete(f"/api/dead-letters/{gone}").status_code == 200
    assert client.delete(f"/api/dead-letters/{lost}").status_code == 409  # maybe not lost yet
    clock.advance(seconds=11)
    assert client.delete(f"/api/dead-letters/{lost}").status_code == 200
    assert states(mongo_db) == {}


def test_replay_queues_the_same_tick_as_the_next_attempt_once(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)

    response = client.post(f"/api/dead-letters/{dead_letter_id}/replay")

    assert response.status_code == 202, response.json
    assert response.json["data"]["state"] == "replaying"
    [entry] = mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"]
    assert entry["scheduledAt"] == START - timedelta(hours=1)
    assert (entry["attempt"], entry["replayBase"], entry["state"]) == (4, 3, "waiting")
    assert entry["replayOf"] == ObjectId(dead_letter_id)
    again = client.post(f"/api/dead-letters/{dead_letter_id}/replay")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "CONFLICT"
    assert len(mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"]) == 1


def test_replay_of_a_deleted_jobs_dead_letter_is_a_409_and_changes_nothing(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)
    client.delete(f"/api/jobs/{job_id}")

    response = client.post(f"/api/dead-letters/{dead_letter_id}/replay")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "CONFLICT"
    assert "deleted" in response.json["error"]["message"]
    assert states(mongo_db) == {dead_letter_id: "dead"}
    bulk = client.post("/api/dead-letters/replay", json={"jobId": job_id})
    assert bulk.status_code == 409
    assert "deleted" in bulk.json["error"]["message"]


def test_a_bulk_replay_of_a_job_never_known_is_a_404_and_changes_nothing(
    client: FlaskClient, mongo_db: Database
) -> None:
    """No job and no dead letters: nothing was deleted, so not the deleted job's 409."""
    dead_letter_id = dead(mongo_db, create_job(client))
    response = client.post("/api/dead-letters/replay", json={"jobId": UNKNOWN_ID})
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "NOT_FOUND"
    assert states(mongo_db) == {dead_letter_id: "dead"}


def test_a_replay_lost_with_its_job_disabled_may_start_again_later(
    client: FlaskClient, mongo_db: Database, clock: FixedClock
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)
    client.post(f"/api/dead-letters/{dead_letter_id}/replay")
    client.put(f"/api/jobs/{job_id}", json={"enabled": False})  # cancels the queued replay

    assert client.post(f"/api/dead-letters/{dead_letter_id}/replay").status_code == 409
    clock.advance(seconds=11)
    assert client.post(f"/api/dead-letters/{dead_letter_id}/replay").status_code == 202
    assert len(mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"]) == 1


def test_bulk_replay_by_job_or_ids_queues_the_replayable_ones(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_a, job_b = create_job(client), create_job(client)
    a1, a2, b1 = dead(mongo_db, job_a, 0), dead(mongo_db, job_a, 1), dead(mongo_db, job_b, 2)
    client.post(f"/api/dead-letters/{a1}/replay")

    by_job = client.post("/api/dead-letters/replay", json={"jobId": job_a})
    assert by_job.status_code == 202
    assert by_job.json["data"] == {"queued": 1, "skipped": 0}
    by_ids = client.post("/api/dead-letters/replay", json={"ids": [a1, b1, UNKNOWN_ID, b1]})
    assert by_ids.json["data"] == {"queued": 1, "skipped": 2}
    assert states(mongo_db) == {a1: "replaying", a2: "replaying", b1: "replaying"}


@pytest.mark.parametrize("body", [
    {"ids": [UNKNOWN_ID] * 1001},
    {"ids": ["not-an-id"]},
    {"ids": []},
    {"jobId": "xyz"},
    {"jobId": UNKNOWN_ID, "ids": [UNKNOWN_ID]},
    {},
    {"ids": [UNKNOWN_ID], "force": True},
    [UNKNOWN_ID],
])  # fmt: skip
def test_a_bad_bulk_replay_is_a_400_and_changes_nothing(
    client: FlaskClient, mongo_db: Database, body: Any
) -> None:
    dead_letter_id = dead(mongo_db, create_job(client))
    response = client.post("/api/dead-letters/replay", json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert states(mongo_db) == {dead_letter_id: "dead"}


def test_a_bulk_replay_that_is_not_json_is_refused(client: FlaskClient) -> None:
    response = client.post("/api/dead-letters/replay", data="ids=1",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    malformed = client.post("/api/dead-letters/replay", data="{ids",
                            content_type="application/json")  # fmt: skip
    assert malformed.status_code == 400
    assert malformed.json["error"]["code"] == "VALIDATION_ERROR"


def test_stats_count_dead_letters(client: FlaskClient, mongo_db: Database) -> None:
    job_id = create_job(client)
    first = dead(mongo_db, job_id, 0)
    dead(mongo_db, job_id, 1)
    client.post(f"/api/dead-letters/{first}/replay")
    counts = client.get("/api/observability/stats").json["data"]["deadLetters"]
    assert counts == {"total": 2, "dead": 1}


def test_real_answers_fit_the_openapi_document(client: FlaskClient, mongo_db: Database) -> None:
    spec = spec_of(client)
    job_id = create_job(client)
    dead_letter_id, other = dead(mongo_db, job_id, 0), dead(mongo_db, job_id, 1)
    item, bulk = "/api/dead-letters/{deadLetterId}", "/api/dead-letters/replay"
    calls: list[tuple[str, str, str, Any]] = [
        ("/api/dead-letters", "get", "/api/dead-letters?limit=1", None),
        ("/api/dead-letters", "get", "/api/dead-letters?state=x", None),
        (item, "get", f"/api/dead-letters/{dead_letter_id}", None),
        (item, "get", "/api/dead-letters/nope", None),
        (item + "/replay", "post", f"/api/dead-letters/{dead_letter_id}/replay", None),
        (item + "/replay", "post", f"/api/dead-letters/{dead_letter_id}/replay", None),
        (bulk, "post", bulk, {"ids": [other]}),
        (bulk, "post", bulk, {"ids": "x"}),
        (item, "delete", f"/api/dead-letters/{other}", None),  # replaying: 409
        (item, "delete", f"/api/dead-letters/{UNKNOWN_ID}", None),
    ]
    for path, method, url, body in calls:
        check_response(spec, path, method, client.open(url, method=method.upper(), json=body))
    check_response(spec, bulk, "post", client.post(bulk, data="x"))
    client.delete(f"/api/jobs/{job_id}")
    check_response(spec, bulk, "post", client.post(bulk, json={"jobId": job_id}))


@pytest.mark.parametrize(("body", "content_type"), [(None, None), ("", "application/json"),
                                                      ("{}", "application/json")])  # fmt: skip
def test_a_replay_takes_no_body_or_an_empty_object(
    client: FlaskClient, mongo_db: Database, body: str | None, content_type: str | None
) -> None:
    dead_letter_id = dead(mongo_db, create_job(client))
    response = client.post(f"/api/dead-letters/{dead_letter_id}/replay", data=body,
                           content_type=content_type)  # fmt: skip
    assert response.status_code == 202, response.json


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ('{"x": 1}', "application/json", 400),  # no fields: any is unknown
    ("[]", "application/json", 400),
    ("{x", "application/json", 400),  # malformed
    ("x=1", "text/plain", 415),
    ("{}", "application/x-www-form-urlencoded", 415),
])  # fmt: skip
def test_a_bad_replay_body_is_refused_and_changes_nothing(
    client: FlaskClient, mongo_db: Database, body: str, content_type: str, status: int
) -> None:
    job_id = create_job(client)
    dead_letter_id = dead(mongo_db, job_id)
    response = client.post(f"/api/dead-letters/{dead_letter_id}/replay", data=body,
                           content_type=content_type)  # fmt: skip
    assert response.status_code == status, response.json
    assert response.json["success"] is False
    assert states(mongo_db) == {dead_letter_id: "dead"}
    assert mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"] == []
