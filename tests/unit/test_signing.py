"""Standard Webhooks signing: secrets checked strictly, signatures verified by the library."""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from pymongo.database import Database
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.crypto import PREFIX, HeaderCipher
from scheduler_service.delivery.signing import SECRET_PATTERN, Signing, secret_problem, signed
from scheduler_service.errors import ConfigError


def new_secret(nbytes: int = 32) -> str:
    return "whsec_" + base64.b64encode(os.urandom(nbytes)).decode()


OLD, NEW = new_secret(), new_secret()
BODY = '{"event":"tick","name":"café"}'.encode()


def signing(*secrets: str, at: datetime | None = None) -> Signing:
    return Signing(secrets, "key-1", at or datetime.now(UTC))


def test_signature_headers_verify_with_the_library() -> None:
    headers = signing(NEW).headers(BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "key-1"
    assert Webhook(NEW).verify(BODY, headers) == {"event": "tick", "name": "café"}


def test_no_body_is_signed_as_empty() -> None:
    headers = signing(NEW).headers(None)
    assert Webhook(NEW).verify(b"", headers, json_parse=False) is None


def test_every_key_signs_first_first_so_either_side_of_a_rotation_verifies() -> None:
    headers = signing(NEW, OLD).headers(BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert signatures[0] == signing(NEW).headers(BODY)["webhook-signature"]
    for secret in (NEW, OLD):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_a_tampered_body_or_id_fails() -> None:
    headers = signing(NEW).headers(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY.replace(b"tick", b"tock"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, {**headers, "webhook-id": "key-2"})


def test_a_stale_timestamp_fails() -> None:
    stale = signing(NEW, at=datetime.now(UTC) - timedelta(minutes=6)).headers(BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(NEW).verify(BODY, stale)
    resigned_now = {**stale, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
    with pytest.raises(WebhookVerificationError):  # the timestamp is signed too
        Webhook(NEW).verify(BODY, resigned_now)


def test_signed_replaces_a_job_header_of_the_same_name() -> None:
    headers = signed({"Webhook-Signature": "forged", "X-Other": "kept"}, signing(NEW), BODY)
    assert "Webhook-Signature" not in headers and headers["X-Other"] == "kept"
    Webhook(NEW).verify(BODY, headers)


@pytest.mark.parametrize(("secret", "problem"), [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"),
    ("whsec_not base64!", "followed by base64"),
    ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24 to 64 bytes"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes"),
])  # fmt: skip
def test_bad_secrets(secret: str, problem: str) -> None:
    assert problem in (secret_problem(secret) or "")


def test_good_secrets() -> None:
    for secret in (new_secret(24), new_secret(64), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert secret_problem(secret) is None


def test_signing_keys_from_the_environment() -> None:
    config = Config.from_env({"WEBHOOK_SIGNING_KEYS": f" {NEW} , {OLD} "})
    assert config.webhook_signing_keys == (NEW, OLD)
    assert Config.from_env({}).webhook_signing_keys == ()


def test_a_bad_signing_key_is_one_line_that_does_not_echo_it() -> None:
    bad = "whsec_" + base64.b64encode(b"short").decode()
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"WEBHOOK_SIGNING_KEYS": f"{NEW},{bad}"})
    message = str(raised.value)
    assert message.startswith("WEBHOOK_SIGNING_KEYS: ") and "\n" not in message
    assert bad not in message and NEW not in message


FERNET = Fernet.generate_key().decode()
JOB = {"schedule": "0 */5 * * * *", "endpoint": "https://example.com/hook"}


def make_app(db: Database, clock: FixedClock, keys: tuple[str, ...] = ()) -> Flask:
    config = Config(scheduler_enabled=False, execution_retention_days=0, encryption_keys=keys,
                    rate_limit="off")
    return create_app(open_runtime(config, database=db, clock=clock))


@pytest.mark.parametrize("value", ["", "secret", "whsec_abc", 42, "whsec_" + "A" * 300])
def test_a_bad_signing_secret_is_a_400_naming_the_field(
    mongo_db: Database, clock: FixedClock, value: object
) -> None:
    client = make_app(mongo_db, clock).test_client()
    response = client.post("/api/jobs", json={**JOB, "signingSecret": value})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and "signingSecret" in error["details"]
    assert mongo_db.jobs.count_documents({}) == 0
    created = client.post("/api/jobs", json=JOB).get_json()["data"]
    response = client.put(f"/api/jobs/{created['jobId']}", json={"signingSecret": value})
    assert response.status_code == 400
    assert "signingSecret" in response.get_json()["error"]["details"]
    assert mongo_db.jobs.find_one()["signingSecret"] is None


def test_the_signing_secret_is_masked_and_sealed_at_rest(
    mongo_db: Database, clock: FixedClock
) -> None:
    client = make_app(mongo_db, clock, (FERNET,)).test_client()
    created = client.post("/api/jobs", json={**JOB, "signingSecret": NEW})
    assert created.status_code == 201
    job = created.get_json()["data"]
    assert job["signingSecret"] == "***"
    assert client.get(f"/api/jobs/{job['jobId']}").get_json()["data"]["signingSecret"] == "***"
    listed = client.get("/api/jobs").get_data(as_text=True)
    assert NEW not in listed and NEW[6:] not in listed
    stored = mongo_db.jobs.find_one()["signingSecret"]
    assert stored.startswith(PREFIX) and HeaderCipher((FERNET,)).open_secret(stored) == NEW
    cleared = client.put(f"/api/jobs/{job['jobId']}", json={"signingSecret": None})
    assert cleared.get_json()["data"]["signingSecret"] is None
    assert mongo_db.jobs.find_one()["signingSecret"] is None


def test_reencrypt_rotates_the_signing_secret(mongo_db: Database, clock: FixedClock) -> None:
    make_app(mongo_db, clock).test_client().post("/api/jobs", json={**JOB, "signingSecret": NEW})
    assert mongo_db.jobs.find_one()["signingSecret"] == NEW  # no ENCRYPTION_KEY: as given
    result = make_app(mongo_db, clock, (FERNET,)).test_cli_runner().invoke(
        args=["jobs", "reencrypt"])
    assert result.exit_code == 0, result.output
    stored = mongo_db.jobs.find_one()["signingSecret"]
    assert stored.startswith(PREFIX) and HeaderCipher((FERNET,)).open_secret(stored) == NEW


def test_the_openapi_pattern_is_the_same_rule() -> None:
    pattern = re.compile(SECRET_PATTERN)
    for nbytes in range(16, 72):
        for _ in range(5):
            secret = new_secret(nbytes)
            assert bool(pattern.match(secret)) is (secret_problem(secret) is None), secret
    for secret in ("whsec_", "whsec_" + "A" * 33, "whsec_" + "A" * 32 + "=", "xwhsec_" + "A" * 32):
        assert bool(pattern.match(secret)) is (secret_problem(secret) is None), secret


def test_openapi_documents_the_field(mongo_db: Database, clock: FixedClock) -> None:
    document = make_app(mongo_db, clock).test_client().get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for name in ("JobCreate", "JobUpdate"):
        assert schemas[name]["properties"]["signingSecret"]["pattern"] == SECRET_PATTERN
    assert "signingSecret" in schemas["JobResponse"]["properties"]
