"""Time zones, one-offs, jitter, windows, names and tags through ``/api/jobs`` (mongomock,
the fixed clock at 2024-01-01T12:00:00Z, a Monday), and the list's filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.scheduling import jitter

ENDPOINT = "https://api.example.com/hook"


def create(client: FlaskClient, query: str = "", **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/jobs{query}", json={"endpoint": ENDPOINT, **fields})
    assert response.status_code == 201, response.json
    data: dict[str, Any] = response.json["data"]
    return data


def test_a_schedule_in_a_zone(client: FlaskClient) -> None:
    job = create(client, schedule="0 0 9 * * *", timezone="America/New_York")
    assert job["timezone"] == "America/New_York"
    assert job["nextRunAt"] == "2024-01-01T14:00:00.000Z"  # 09:00 EST


def test_a_one_off(client: FlaskClient) -> None:
    job = create(client, runAt="2024-01-01T13:00:00+01:00")
    assert (job["schedule"], job["runAt"]) == (None, "2024-01-01T12:00:00.000Z")
    assert job["nextRunAt"] == "2024-01-01T12:00:00.000Z"  # "now" is not in the past
    later = create(client, runAt="2024-06-01T00:00:00Z")
    assert later["nextRunAt"] == "2024-06-01T00:00:00.000Z" and later["enabled"] is True


def test_a_one_off_in_the_past_runs_now_only_when_allowed(client: FlaskClient,
                                                          mongo_db: Database) -> None:  # fmt: skip
    response = client.post("/api/jobs", json={"endpoint": ENDPOINT,
                                              "runAt": "2023-12-31T00:00:00Z"})  # fmt: skip
    assert response.status_code == 400
    assert list(response.json["error"]["details"]) == ["runAt"]
    assert mongo_db["jobs"].count_documents({}) == 0
    sloppy = client.post("/api/jobs?allowPast=yes", json={"endpoint": ENDPOINT,
                                                          "runAt": "2023-12-31T00:00:00Z"})
    assert sloppy.status_code == 400
    assert list(sloppy.json["error"]["details"]) == ["allowPast"]
    job = create(client, "?allowPast=true", runAt="2023-12-31T00:00:00Z")
    assert (job["runAt"], job["nextRunAt"]) == ("2023-12-31T00:00:00.000Z",
                                                "2024-01-01T12:00:00.000Z")  # fmt: skip


def test_jitter_moves_next_run_at_by_the_ticks_delay(client: FlaskClient,
                                                     mongo_db: Database) -> None:  # fmt: skip
    job = create(client, schedule="0 0 * * * *", jitterMs=3_600_000)
    tick = datetime(2024, 1, 1, 13, tzinfo=UTC)
    delay = jitter(ObjectId(job["jobId"]), tick, 3_600_000)
    stored = mongo_db["jobs"].find_one({"_id": ObjectId(job["jobId"])})
    assert stored is not None
    assert stored["nextTickAt"] == tick
    assert stored["nextRunAt"] == tick + delay
    assert job["jitterMs"] == 3_600_000


def test_a_window(client: FlaskClient) -> None:
    job = create(client, schedule="0 0 * * * *", startAt="2024-01-02T00:30:00Z",
                 endAt="2024-01-03T00:00:00Z")  # fmt: skip
    assert job["nextRunAt"] == "2024-01-02T01:00:00.000Z"
    assert (job["startAt"], job["endAt"]) == ("2024-01-02T00:30:00.000Z",
                                              "2024-01-03T00:00:00.000Z")  # fmt: skip


def test_names_descriptions_and_tags(client: FlaskClient) -> None:
    job = create(client, schedule="@daily", name="Nightly billing", description="Invoices",
                 tags=["billing", "team:finance", "billing"])  # fmt: skip
    assert (job["name"], job["description"]) == ("Nightly billing", "Invoices")
    assert job["tags"] == ["billing", "team:finance"]  # each once, in order
    assert create(client, schedule="@daily", method="put")["name"] == "PUT api.example.com"


BAD = [
    ({"schedule": "@daily", "timezone": "Mars/Olympus"}, {"timezone"}),
    ({"schedule": "@daily", "runAt": "2024-02-01T00:00:00Z"}, {"schedule", "runAt"}),
    ({"schedule": "@daily", "startAt": "2024-02-02T00:00:00Z", "endAt": "2024-02-01T00:00:00Z"},
     {"endAt"}),
    ({"schedule": "@daily", "tags": ["has space"]}, {"tags"}),
    ({"schedule": "@daily", "endAt": "2023-06-01T00:00:00Z"}, {"endAt"}),  # no tick left
    ({"runAt": "2024-02-01T00:00:00Z", "startAt": "2024-01-15T00:00:00Z"}, {"startAt"}),
    ({"schedule": "@daily", "jitterMs": 3_600_001}, {"jitterMs"}),
    ({"schedule": "@daily", "name": ""}, {"name"}),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "named"), BAD)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, mongo_db: Database, fields: dict[str, Any], named: set[str]
) -> None:
    response = client.post("/api/jobs", json={"endpoint": ENDPOINT, **fields})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert set(response.json["error"]["details"]) == named
    assert mongo_db["jobs"].count_documents({}) == 0


@pytest.mark.parametrize(("fields", "named"), [
    ({"timezone": "Nowhere/Land"}, {"timezone"}),
    ({"runAt": "2024-02-01T00:00:00Z"}, {"schedule", "runAt"}),  # schedule still set
    ({"startAt": "2024-02-02T00:00:00Z", "endAt": "2024-02-01T00:00:00Z"}, {"endAt"}),
    ({"endAt": "2023-01-01T00:00:00Z"}, {"endAt"}),
    ({"tags": ["a b"]}, {"tags"}),
])  # fmt: skip
def test_bad_updates_change_nothing(client: FlaskClient, mongo_db: Database,
                                    fields: dict[str, Any], named: set[str]) -> None:  # fmt: skip
    job = create(client, schedule="0 */5 * * * *")
    before = mongo_db["jobs"].find_one({"_id": ObjectId(job["jobId"])})
    response = client.put(f"/api/jobs/{job['jobId']}", json=fields)
    assert response.status_code == 400, response.json
    assert set(response.json["error"]["details"]) == named
    assert mongo_db["jobs"].find_one({"_id": ObjectId(job["jobId"])}) == before


def test_updates_move_the_next_tick(client: FlaskClient) -> None:
    job_id = create(client, schedule="0 0 9 * * *")["jobId"]
    url = f"/api/jobs/{job_id}"
    assert client.get(url).json["data"]["nextRunAt"] == "2024-01-02T09:00:00.000Z"
    zoned = client.put(url, json={"timezone": "Asia/Kolkata"}).json["data"]
    assert zoned["nextRunAt"] == "2024-01-02T03:30:00.000Z"
    one_off = client.put(url, json={"schedule": None, "runAt": "2024-03-01T00:00:00Z"})
    assert one_off.json["data"]["nextRunAt"] == "2024-03-01T00:00:00.000Z"
    past = client.put(url, json={"runAt": "2023-03-01T00:00:00Z"})
    assert past.status_code == 400 and list(past.json["error"]["details"]) == ["runAt"]
    now = client.put(f"{url}?allowPast=true", json={"runAt": "2023-03-01T00:00:00Z"})
    assert now.json["data"]["nextRunAt"] == "2024-01-01T12:00:00.000Z"
    back = client.put(url, json={"schedule": "@hourly", "runAt": None}).json["data"]
    assert (back["schedule"], back["runAt"], back["nextRunAt"]) == (
        "@hourly", None, "2024-01-01T12:30:00.000Z")  # on the hour in Kolkata


@pytest.fixture
def listed(client: FlaskClient) -> dict[str, str]:
    """Five jobs, created in this order (so newest first is the reverse)."""
    specs = {
        "alpha": {"tags": ["billing", "nightly"], "endpoint": "https://billing.example.com/a"},
        "Bravo": {"tags": ["billing"], "enabled": False},
        "charlie": {"tags": ["reports", "nightly"]},
        "delta": {"tags": [], "endpoint": "https://hooks.example.org/DELTA"},
        "echo": {"tags": ["billing", "nightly", "eu"], "schedule": "0 0 0 1 1 *"},
    }
    ids = {}
    for name, spec in specs.items():
        fields = {"schedule": "0 */5 * * * *", "name": name, **spec}
        response = client.post("/api/jobs", json={"endpoint": ENDPOINT, **fields})
        assert response.status_code == 201, response.json
        ids[name] = response.json["data"]["jobId"]
        client.application.extensions["scheduler_service"].clock.advance(seconds=1)
    return ids


def names(client: FlaskClient, query: str) -> list[str]:
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 200, response.json
    listed = [job["name"] for job in response.json["data"]]
    assert response.json["pagination"]["total"] == len(listed)
    return listed


def test_filters_return_exactly_the_matching_jobs(client: FlaskClient,
                                                  listed: dict[str, str]) -> None:  # fmt: skip
    assert names(client, "") == ["echo", "delta", "charlie", "Bravo", "alpha"]
    assert names(client, "tag=billing") == ["echo", "Bravo", "alpha"]
    assert names(client, "tag=billing&tag=nightly") == ["echo", "alpha"]
    assert names(client, "tag=billing&tag=nightly&tag=eu") == ["echo"]
    assert names(client, "tag=nope") == []
    assert names(client, "enabled=false") == ["Bravo"]
    assert names(client, "enabled=true&tag=billing") == ["echo", "alpha"]
    assert names(client, "q=BRAV") == ["Bravo"]  # the name, any case
    assert names(client, "q=delta") == ["delta"]  # name and endpoint
    assert names(client, "q=billing.example") == ["alpha"]  # the endpoint
    assert names(client, "q=.") == ["echo", "delta", "charlie", "Bravo", "alpha"]  # literal
    assert names(client, "q=a.*z") == []  # not a pattern
    assert names(client, "sort=name") == ["Bravo", "alpha", "charlie", "delta", "echo"]
    assert names(client, "sort=-name&tag=nightly") == ["echo", "charlie", "alpha"]
    assert names(client, "sort=createdAt") == ["alpha", "Bravo", "charlie", "delta", "echo"]
    # nextRunAt: Bravo (disabled) has none and sorts first; echo's is next January.
    assert names(client, "sort=nextRunAt")[0] == "Bravo"
    assert names(client, "sort=nextRunAt")[-1] == "echo"
    assert names(client, "sort=-nextRunAt&enabled=true")[0] == "echo"


def test_a_page_of_a_filter_counts_the_selection(client: FlaskClient,
                                                 listed: dict[str, str]) -> None:  # fmt: skip
    response = client.get("/api/jobs?tag=billing&limit=2&page=2")
    assert [job["name"] for job in response.json["data"]] == ["alpha"]
    assert response.json["pagination"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2,
                                           "totalExact": True, "complete": True,
                                           "nextCursor": None}  # fmt: skip


@pytest.mark.parametrize("query", ["tag=has+space", "tag=", "enabled=maybe", "enabled=1",
                                   "enabled=True", "sort=size",
                                   "q=", "q=" + "x" * 201, "sort=name&sort=-name",
                                   "&".join(f"tag=t{i}" for i in range(21))])  # fmt: skip
def test_bad_filters_are_400s(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 400, query
    assert response.json["error"]["code"] == "VALIDATION_ERROR"


def test_renaming_is_found_by_q(client: FlaskClient, listed: dict[str, str]) -> None:
    client.put(f"/api/jobs/{listed['delta']}", json={"name": "Zulu"})
    assert names(client, "q=zulu") == ["Zulu"]
    assert names(client, "q=DELTA") == ["Zulu"]  # still in its endpoint


def test_q_never_searches_a_secret_of_the_endpoint(client: FlaskClient,
                                                   mongo_db: Database) -> None:  # fmt: skip
    job = create(client, schedule="@daily", name="with secret",
                 endpoint="https://user:pw@hooks.example.com/p?token=s3cr3t#frag")  # fmt: skip
    stored = mongo_db["jobs"].find_one({"_id": ObjectId(job["jobId"])})
    assert stored is not None and "s3cr3t" not in stored["searchText"]
    assert "pw" not in stored["searchText"].split("@")[0].split("//")[-1]
    assert names(client, "q=s3cr3t") == []
    assert names(client, "q=hooks.example.com/p?token") == ["with secret"]
    client.put(f"/api/jobs/{job['jobId']}", json={"endpoint": "https://h.example.com/?k=zz9"})
    assert names(client, "q=zz9") == []
    assert names(client, "q=h.example.com") == ["with secret"]
