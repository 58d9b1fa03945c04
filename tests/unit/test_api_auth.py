from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.api.auth import key_matches
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.errors import ConfigError

KEY_OLD = "old-key-0123456789abcdef"
KEY_NEW = "new-key-0123456789abcdef"
JOB = {"schedule": "0 */5 * * * *", "endpoint": "https://example.com/hook"}


@pytest.fixture
def secured(mongo_db: Database, clock: FixedClock) -> Flask:
    config = Config(scheduler_enabled=False, api_keys=(KEY_OLD, KEY_NEW))
    return create_app(open_runtime(config, database=mongo_db, clock=clock))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/6b08c0497c71e5d9c95309d1"),
        ("DELETE", "/api/jobs/6b08c0497c71e5d9c95309d1"),
        ("GET", "/api/observability/stats"),
        ("GET", "/api/observability/failures"),
    ],
)
def test_every_protected_route_needs_a_key(secured: Flask, method: str, path: str) -> None:
    client = secured.test_client()
    for headers in ({}, bearer("wrong-key-0123456789abcdef"), {"Authorization": KEY_OLD},
                    {"Authorization": "Basic " + KEY_OLD}):
        response = client.open(path, method=method, headers=headers, json=JOB)
        assert response.status_code == 401, headers
        body = response.get_json()
        assert body["success"] is False
        assert body["error"]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert KEY_OLD not in response.get_data(as_text=True)


def test_unauthorized_create_stores_nothing(secured: Flask, mongo_db: Database) -> None:
    secured.test_client().post("/api/jobs", json=JOB)
    assert mongo_db.jobs.count_documents({}) == 0


def test_both_keys_work_during_rotation(secured: Flask) -> None:
    client: FlaskClient = secured.test_client()
    for key in (KEY_OLD, KEY_NEW):
        assert client.post("/api/jobs", json=JOB, headers=bearer(key)).status_code == 201
        assert client.get("/api/observability/stats", headers=bearer(key)).status_code == 200
    listed = client.get("/api/jobs", headers=bearer(KEY_NEW)).get_json()
    assert listed["pagination"]["total"] == 2


def test_health_stays_open(secured: Flask) -> None:
    assert secured.test_client().get("/api/observability/health").status_code == 200


def test_no_keys_means_open_with_a_loud_warning(
    mongo_db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        runtime = open_runtime(Config(scheduler_enabled=False), database=mongo_db, clock=clock)
        app = create_app(runtime)
    assert "API_KEYS is not set" in caplog.text
    assert app.test_client().get("/api/jobs").status_code == 200


def test_key_matching() -> None:
    assert key_matches(KEY_NEW, (KEY_OLD, KEY_NEW))
    assert not key_matches(KEY_NEW[:-1], (KEY_OLD, KEY_NEW))
    assert not key_matches("", (KEY_OLD,))


def test_api_keys_from_the_environment_are_validated_and_never_echoed() -> None:
    # SECRET_KEY is required with API_KEYS (it signs the dashboard's sessions).
    config = Config.from_env({"API_KEYS": f" {KEY_OLD} , {KEY_NEW},", "SECRET_KEY": "s" * 32})
    assert config.api_keys == (KEY_OLD, KEY_NEW)
    assert KEY_OLD not in repr(config)
    with pytest.raises(ConfigError) as info:
        Config.from_env({"API_KEYS": "short"})
    assert str(info.value).startswith("API_KEYS:")
    assert "short" not in str(info.value)
