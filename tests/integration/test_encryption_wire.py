"""With ENCRYPTION_KEY set, the scheduler sends the header values in clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.crypto import PREFIX
from scheduler_service.runtime import get_runtime
from tests.support.http_target import HttpTarget

pytestmark = pytest.mark.integration


def test_sealed_headers_are_sent_in_clear(wire_uri: str, wire_db: Database) -> None:
    config = Config(mongodb_uri=wire_uri, scheduler_poll_interval_ms=300,
                    allow_private_targets=True, rate_limit="off",
                    encryption_keys=(Fernet.generate_key().decode(),))
    app = create_app(open_runtime(config))
    get_runtime(app).start_scheduler()
    try:
        with HttpTarget() as target:
            api = app.test_client()
            job = api.post("/api/jobs", json={
                "schedule": "0 0 0 1 1 *", "endpoint": target.url("/sealed"),
                "headers": {"X-Api-Key": "k3y-value", "X-Plain": "p"}}).get_json()["data"]
            assert wire_db.jobs.find_one()["headers"]["X-Api-Key"].startswith(PREFIX)
            api.post(f"/api/jobs/{job['jobId']}/run")
            received = target.wait_for_requests("/sealed", 1, timeout_s=10)[0]
            assert received.header("X-Api-Key") == "k3y-value"
            assert received.header("X-Plain") == "p"
    finally:
        get_runtime(app).close()
