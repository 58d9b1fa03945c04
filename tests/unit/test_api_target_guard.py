"""The API refuses obviously forbidden literal targets at creation and update (without
resolving names); the policy itself: test_target_guard.py."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config

HINT = "(set ALLOW_PRIVATE_TARGETS=true to allow private targets)"


def api(mongo_db: Database, clock: FixedClock, allow_private: bool) -> FlaskClient:
    config = Config(scheduler_enabled=False, allow_private_targets=allow_private)
    return create_app(open_runtime(config, database=mongo_db, clock=clock)).test_client()


def post(client: FlaskClient, endpoint: str) -> Any:
    return client.post("/api/jobs", json={"schedule": "0 */5 * * * *", "endpoint": endpoint})


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("endpoint", [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://169.254.1.1/",
])
def test_create_refuses_metadata_and_link_local_literals_always(
    mongo_db: Database, clock: FixedClock, endpoint: str, allow_private: bool
) -> None:
    response = post(api(mongo_db, clock, allow_private), endpoint)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == ["endpoint"]
    assert error["details"]["endpoint"][0].startswith("target refused: ")
    assert error["details"]["endpoint"][0].endswith("(never allowed)")
    assert mongo_db["jobs"].count_documents({}) == 0


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1/", "http://localhost:8080/hook", "https://10.1.2.3/x", "http://[::1]:81/",
])
def test_create_refuses_private_literals_unless_allowed(
    mongo_db: Database, clock: FixedClock, endpoint: str
) -> None:
    refused = post(api(mongo_db, clock, allow_private=False), endpoint)
    assert refused.status_code == 400
    assert refused.json["error"]["message"] == "Invalid request: check endpoint"
    [message] = refused.json["error"]["details"]["endpoint"]
    assert message.startswith("target refused: ") and message.endswith(f" {HINT}")

    allowed = post(api(mongo_db, clock, allow_private=True), endpoint)
    assert allowed.status_code == 201, allowed.json
    assert allowed.json["data"]["endpoint"] == endpoint


def test_create_accepts_names_without_resolving_them(
    mongo_db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def numeric_only(*args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("flags") == socket.AI_NUMERICHOST, "no DNS query at creation"
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    response = post(api(mongo_db, clock, allow_private=False), "https://hooks.test/x")
    assert response.status_code == 201


def test_update_refuses_a_forbidden_literal(mongo_db: Database, clock: FixedClock) -> None:
    client = api(mongo_db, clock, allow_private=False)
    job_id = post(client, "https://api.example.com/hook").json["data"]["jobId"]

    response = client.put(f"/api/jobs/{job_id}", json={"endpoint": "http://10.0.0.5/internal"})
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"endpoint": [
        f"target refused: 10.0.0.5 is a private address {HINT}"]}
    stored = client.get(f"/api/jobs/{job_id}").json["data"]
    assert stored["endpoint"] == "https://api.example.com/hook"

    assert client.put(f"/api/jobs/{job_id}", json={"enabled": False}).status_code == 200
