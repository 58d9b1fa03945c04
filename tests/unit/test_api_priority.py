"""A job's ``priority`` through the API, the OpenAPI document, the dashboard's form and the
CLI: 1 to 10, default 5; anything else is a 400 naming it that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pymongo.database import Database

from tests.conftest import START
from tests.support.dashboard import FORM, create_job, post_form

ENDPOINT = "https://api.example.com/hook"
BAD_VALUES = [0, 11, -1, 5.5, 5.0, "5", True, False, None, [5], {"value": 5}]


def create(client: FlaskClient, **fields: Any) -> Any:
    return client.post("/api/jobs", json={"schedule": "*/5 * * * * *", "endpoint": ENDPOINT,
                                          **fields})  # fmt: skip


def test_priority_defaults_to_5_and_is_shown_everywhere(client: FlaskClient) -> None:
    plain = create(client)
    assert plain.status_code == 201 and plain.json["data"]["priority"] == 5
    urgent = create(client, priority=10)
    assert urgent.status_code == 201 and urgent.json["data"]["priority"] == 10
    job_id = urgent.json["data"]["jobId"]
    assert client.get(f"/api/jobs/{job_id}").json["data"]["priority"] == 10
    listed = {job["jobId"]: job["priority"] for job in client.get("/api/jobs").json["data"]}
    assert listed == {plain.json["data"]["jobId"]: 5, job_id: 10}


@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_bad_priority_is_a_400_naming_it_and_stores_nothing(
    client: FlaskClient, mongo_db: Database, value: Any
) -> None:
    response = create(client, priority=value)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert list(response.json["error"]["details"]) == ["priority"]
    assert mongo_db["jobs"].count_documents({}) == 0


@pytest.mark.parametrize("value", [0, 11, 2.5, "9", True, None])
def test_an_update_with_a_bad_priority_changes_nothing(
    client: FlaskClient, mongo_db: Database, value: Any
) -> None:
    job_id = create(client, priority=3).json["data"]["jobId"]
    before = mongo_db["jobs"].find_one()
    response = client.put(f"/api/jobs/{job_id}", json={"priority": value})
    assert response.status_code == 400
    assert list(response.json["error"]["details"]) == ["priority"]
    assert mongo_db["jobs"].find_one() == before


def test_an_update_sets_the_priority_alone(client: FlaskClient, mongo_db: Database) -> None:
    job = create(client, priority=3).json["data"]
    updated = client.put(f"/api/jobs/{job['jobId']}", json={"priority": 9})
    assert updated.status_code == 200
    assert updated.json["data"]["priority"] == 9
    assert updated.json["data"]["nextRunAt"] == job["nextRunAt"]  # the schedule is unchanged
    assert mongo_db["jobs"].find_one()["priority"] == 9


def test_a_job_of_an_earlier_version_has_priority_5(client: FlaskClient,
                                                    mongo_db: Database) -> None:  # fmt: skip
    job_id = create(client).json["data"]["jobId"]
    mongo_db["jobs"].update_many({}, {"$unset": {"priority": ""}})
    assert client.get(f"/api/jobs/{job_id}").json["data"]["priority"] == 5


def test_the_openapi_document_describes_priority(client: FlaskClient) -> None:
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    for name in ("JobCreate", "JobUpdate"):
        priority = schemas[name]["properties"]["priority"]
        assert (priority["type"], priority["minimum"], priority["maximum"]) == ("integer", 1, 10)
        assert "higher first" in priority["description"]
    assert schemas["JobCreate"]["properties"]["priority"]["default"] == 5
    response = schemas["JobResponse"]
    assert "priority" in response["properties"]
    assert "priority" in response.get("required", response["properties"])


def test_the_dashboard_form_sets_the_priority(client: FlaskClient, mongo_db: Database) -> None:
    page = client.get("/ui/jobs/new").get_data(as_text=True)
    assert 'name="priority"' in page and "1 to 10, higher first" in page
    job_id = create_job(client, priority="8")
    assert mongo_db["jobs"].find_one()["priority"] == 8
    assert "<dt>Priority</dt><dd>8</dd>" in client.get(f"/ui/jobs/{job_id}").get_data(as_text=True)
    bad = post_form(client, "/ui/jobs/new", {**FORM, "priority": "11"}, "/ui/jobs/new")
    assert bad.status_code == 400
    assert '<p class="error" id="priority-error">' in bad.get_data(as_text=True)
    assert mongo_db["jobs"].count_documents({}) == 1


def test_the_cli_lists_the_priority(runner: FlaskCliRunner, client: FlaskClient) -> None:
    create(client, priority=7)
    lines = runner.invoke(args=["jobs", "list"]).stdout.splitlines()
    assert lines[0].split()[4] == "PRIORITY"
    assert lines[1].split()[-3:] == ["7", "yes", (START.replace(second=5)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")]  # fmt: skip
