"""The dead-letter routes answer as the OpenAPI document says: found by schemathesis."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def test_the_bulk_replay_path_allows_only_post(client: FlaskClient) -> None:
    answer = client.options("/api/dead-letters/replay")
    assert set(answer.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert client.get("/api/dead-letters/replay").status_code == 405
    assert client.get("/api/dead-letters/" + "a" * 24).status_code == 404  # unknown id


def test_id_patterns_are_anchored_and_bulk_replay_takes_exactly_one(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    bulk = spec["components"]["schemas"]["BulkReplay"]
    assert bulk["oneOf"] == [{"required": ["jobId"]}, {"required": ["ids"]}]
    query = {p["name"]: p for p in spec["paths"]["/api/dead-letters"]["get"]["parameters"]}
    for pattern in (bulk["properties"]["jobId"]["pattern"], query["jobId"]["schema"]["pattern"]):
        assert pattern == "^[0-9a-fA-F]{24}$"
        assert not re.search(pattern, "\U0001f3fb" + "E0FE5c08947A3ae9B2d2c071")
