"""With ENCRYPTION_KEY set, the scheduler sends the header values in clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from scheduler_service.crypto import PREFIX
from tests.support.http_target import HttpTarget
from tests.support.in_process import running_service

pytestmark = pytest.mark.integration


def test_sealed_headers_are_sent_in_clear(wire_uri: str, wire_db: Database) -> None:
    keys = (Fernet.generate_key().decode(),)
    with running_service(wire_uri, scheduler_poll_interval_ms=300,
                         encryption_keys=keys) as app, HttpTarget() as target:  # fmt: skip
        api = app.test_client()
        job = api.post("/api/jobs", json={
            "schedule": "0 0 0 1 1 *", "endpoint": target.url("/sealed"),
            "headers": {"X-Api-Key": "k3y-value", "X-Plain": "p"}}).get_json()["data"]
        assert wire_db.jobs.find_one()["headers"]["X-Api-Key"].startswith(PREFIX)
        api.post(f"/api/jobs/{job['jobId']}/run")
        received = target.wait_for_requests("/sealed", 1, timeout_s=10)[0]
        assert received.header("X-Api-Key") == "k3y-value"
        assert received.header("X-Plain") == "p"


def test_a_sealed_alert_endpoint_is_alerted_in_clear(wire_uri: str, wire_db: Database) -> None:
    keys = (Fernet.generate_key().decode(),)
    with running_service(wire_uri, scheduler_poll_interval_ms=300,
                         encryption_keys=keys) as app, HttpTarget() as target:  # fmt: skip
        target.respond("/bad", 400)
        api = app.test_client()
        job = api.post("/api/jobs", json={
            "schedule": "0 0 0 1 1 *", "endpoint": target.url("/bad"), "retryAttempts": 0,
            "alertEndpoint": target.url("/alert/t0ken-path?token=t0ken")}).get_json()["data"]
        stored = wire_db.jobs.find_one()["alertEndpoint"]
        assert stored.startswith(PREFIX) and "t0ken" not in stored
        api.post(f"/api/jobs/{job['jobId']}/run")
        received = target.wait_for_requests("/alert/t0ken-path", 1, timeout_s=15)[0]
        assert received.query == "token=t0ken"
        assert received.json()["deadLetter"]["jobId"] == job["jobId"]
