"""Rate limiting: 429 ``RATE_LIMITED`` with ``Retry-After``, per key or per client address."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.api.ratelimit import EXTENSION_KEY
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.errors import ConfigError

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"
HEALTH = "/api/observability/health"


def make_app(mongo_db: Database, clock: FixedClock, **settings: object) -> Flask:
    config = Config(scheduler_enabled=False, rate_limit="3 per minute", **settings)  # type: ignore[arg-type]
    return create_app(open_runtime(config, database=mongo_db, clock=clock))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def statuses(
    client: FlaskClient, count: int, path: str = "/api/jobs", **kwargs: object
) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(count)]  # type: ignore[arg-type]


def test_over_the_limit_is_429_json_with_retry_after(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock).test_client()
    assert statuses(client, 3) == [200, 200, 200]

    response = client.get("/api/jobs")

    assert response.status_code == 429
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "RATE_LIMITED"
    assert "3 per 1 minute" in body["error"]["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["error"]["details"] == {"limit": "3 per 1 minute", "retryAfter": retry_after}


def test_the_limit_is_shared_by_every_api_route(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock).test_client()
    assert client.get("/api/jobs").status_code == 200
    assert client.get("/api/observability/stats").status_code == 200
    assert client.get("/api/jobs/6b08c0497c71e5d9c95309d1").status_code == 404
    assert client.post("/api/jobs", json={}).status_code == 429


def test_two_keys_have_separate_buckets(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock, api_keys=(KEY_A, KEY_B)).test_client()
    assert statuses(client, 4, headers=bearer(KEY_A)) == [200, 200, 200, 429]
    assert statuses(client, 3, headers=bearer(KEY_B)) == [200, 200, 200]
    assert statuses(client, 1, headers=bearer(KEY_B)) == [429]


def test_a_key_counts_wherever_it_comes_from(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock, api_keys=(KEY_A,)).test_client()
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        response = client.get("/api/jobs", headers=bearer(KEY_A),
                              environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200
    assert client.get("/api/jobs", headers=bearer(KEY_A),
                      environ_base={"REMOTE_ADDR": "10.0.0.4"}).status_code == 429


def test_without_a_valid_key_each_address_has_its_bucket(
    mongo_db: Database, clock: FixedClock
) -> None:
    client = make_app(mongo_db, clock, api_keys=(KEY_A,)).test_client()
    wrong = bearer("wrong-key-0123456789abcdef")
    one = {"REMOTE_ADDR": "10.0.0.1"}
    # Guessing keys is limited too: refused keys count against the address.
    assert statuses(client, 4, headers=wrong, environ_base=one) == [401, 401, 401, 429]
    assert statuses(client, 1, environ_base=one) == [429]
    assert statuses(client, 1, environ_base={"REMOTE_ADDR": "10.0.0.2"}) == [401]
    assert statuses(client, 1, headers=bearer(KEY_A), environ_base=one) == [200]


def test_open_api_limits_per_address(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock).test_client()
    assert statuses(client, 4, environ_base={"REMOTE_ADDR": "10.0.0.1"})[-1] == 429
    assert statuses(client, 3, environ_base={"REMOTE_ADDR": "10.0.0.2"}) == [200, 200, 200]


def test_health_is_exempt(mongo_db: Database, clock: FixedClock) -> None:
    client = make_app(mongo_db, clock).test_client()
    assert statuses(client, 10, HEALTH) == [200] * 10
    assert statuses(client, 4)[-1] == 429
    assert client.get(HEALTH).status_code == 200


def test_the_key_itself_is_never_the_limit_key(mongo_db: Database, clock: FixedClock) -> None:
    app = make_app(mongo_db, clock, api_keys=(KEY_A,))
    client = app.test_client()
    statuses(client, 2, headers=bearer(KEY_A))
    stored = repr(vars(app.extensions[EXTENSION_KEY].storage))
    assert "key:" in stored
    assert KEY_A not in stored


@pytest.mark.parametrize("value", ["off", "OFF", "none"])
def test_rate_limit_off_disables_it(mongo_db: Database, clock: FixedClock, value: str) -> None:
    config = Config.from_env({"RATE_LIMIT": value}, scheduler_enabled=False)
    assert config.rate_limit == ""
    app = create_app(open_runtime(config, database=mongo_db, clock=clock))
    assert EXTENSION_KEY not in app.extensions
    assert statuses(app.test_client(), 20) == [200] * 20


def test_settings_are_checked() -> None:
    assert Config.from_env({}).rate_limit == "600 per minute"
    assert Config.from_env({}).rate_limit_storage_uri == "memory://"
    assert Config.from_env({"RATE_LIMIT": "10/second; 600/minute"}).rate_limit == (
        "10/second; 600/minute"
    )
    with pytest.raises(ConfigError, match=r"^RATE_LIMIT: "):
        Config.from_env({"RATE_LIMIT": "lots"})
    with pytest.raises(ConfigError, match=r"^RATE_LIMIT_STORAGE_URI: ") as raised:
        Config.from_env({"RATE_LIMIT_STORAGE_URI": "ftp://user:secret@host"})
    assert "secret" not in str(raised.value)
