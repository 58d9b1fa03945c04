"""Encryption at rest of header values: stored sealed, sent and shown (masked) in clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.crypto import PREFIX, UNREADABLE, HeaderCipher
from scheduler_service.errors import ConfigError, DecryptionError

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
JOB = {
    "schedule": "0 */5 * * * *",
    "endpoint": "https://example.com/hook",
    "headers": {"Authorization": "Bearer s3cret-token", "Accept": "visible"},
}


def make_app(db: Database, clock: FixedClock, keys: tuple[str, ...]) -> Flask:
    config = Config(scheduler_enabled=False, execution_retention_days=0, encryption_keys=keys,
                    rate_limit="off")
    return create_app(open_runtime(config, database=db, clock=clock))


def test_values_are_sealed_at_rest_and_readable_through_the_api(
    mongo_db: Database, clock: FixedClock
) -> None:
    client = make_app(mongo_db, clock, (OLD,)).test_client()
    created = client.post("/api/jobs", json=JOB).get_json()["data"]
    assert created["headers"] == {"Authorization": "Bearer ***", "Accept": "visible"}
    stored = mongo_db.jobs.find_one()["headers"]
    assert set(stored) == {"Authorization", "Accept"}
    assert all(value.startswith(PREFIX) for value in stored.values())
    assert "s3cret-token" not in str(stored) and "visible" not in str(stored)
    assert HeaderCipher((OLD,)).open(stored) == JOB["headers"]
    updated = client.put(f"/api/jobs/{created['jobId']}",
                         json={"headers": {"Accept-Language": "n"}})  # fmt: skip
    assert updated.get_json()["data"]["headers"] == {"Accept-Language": "n"}
    assert mongo_db.jobs.find_one()["headers"]["Accept-Language"].startswith(PREFIX)


def test_rotation_with_reencrypt(mongo_db: Database, clock: FixedClock) -> None:
    make_app(mongo_db, clock, (OLD,)).test_client().post("/api/jobs", json=JOB)
    rotated_app = make_app(mongo_db, clock, (NEW, OLD))
    result = rotated_app.test_cli_runner().invoke(args=["jobs", "reencrypt"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted the headers of 1 jobs" in result.output
    stored = mongo_db.jobs.find_one()["headers"]
    assert HeaderCipher((NEW,)).open(stored) == JOB["headers"]
    with pytest.raises(DecryptionError):
        HeaderCipher((OLD,)).open(stored)


def test_plaintext_jobs_from_before_are_read_and_sealed_by_reencrypt(
    mongo_db: Database, clock: FixedClock
) -> None:
    make_app(mongo_db, clock, ()).test_client().post("/api/jobs", json=JOB)
    assert mongo_db.jobs.find_one()["headers"] == JOB["headers"]
    app = make_app(mongo_db, clock, (NEW,))
    listed = app.test_client().get("/api/jobs").get_json()["data"]
    assert listed[0]["headers"]["Accept"] == "visible"
    app.test_cli_runner().invoke(args=["jobs", "reencrypt"])
    assert all(v.startswith(PREFIX) for v in mongo_db.jobs.find_one()["headers"].values())


def test_unreadable_values_show_as_encrypted_and_never_send() -> None:
    sealed = HeaderCipher((OLD,)).seal({"Accept": "visible"})
    assert HeaderCipher((NEW,)).open_for_display(sealed) == {"Accept": UNREADABLE}
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEY is not set"):
        HeaderCipher().open(sealed)


def test_bad_keys_stop_start_up_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({"ENCRYPTION_KEY": "not-a-fernet-key"})
    assert str(info.value).startswith("ENCRYPTION_KEY:")
    assert "not-a-fernet-key" not in str(info.value)
    assert Config.from_env({"ENCRYPTION_KEY": f"{NEW},{OLD}"}).encryption_keys == (NEW, OLD)
    assert NEW not in repr(Config(encryption_keys=(NEW,)))


ALERT = "https://alerts.example.com/hooks/T0/s3cret-path?token=tok3n"


def test_the_alert_endpoint_is_sealed_at_rest_and_shown_masked(
    mongo_db: Database, clock: FixedClock
) -> None:
    client = make_app(mongo_db, clock, (OLD,)).test_client()
    created = client.post("/api/jobs", json={**JOB, "alertEndpoint": ALERT}).get_json()["data"]
    shown = "https://alerts.example.com/hooks/T0/s3cret-path?token=***"
    assert created["alertEndpoint"] == shown
    stored = mongo_db.jobs.find_one()["alertEndpoint"]
    assert stored.startswith(PREFIX) and "s3cret-path" not in stored and "tok3n" not in stored
    assert HeaderCipher((OLD,)).open_secret(stored) == ALERT
    job_id = created["jobId"]
    # Sent back as shown (a client that read the job): the stored one stays.
    again = client.put(f"/api/jobs/{job_id}", json={"alertEndpoint": shown}).get_json()["data"]
    assert again["alertEndpoint"] == shown
    assert mongo_db.jobs.find_one()["alertEndpoint"] == stored
    moved = client.put(f"/api/jobs/{job_id}", json={"alertEndpoint": "https://a.example.com/x"})
    assert moved.get_json()["data"]["alertEndpoint"] == "https://a.example.com/x"
    sealed = mongo_db.jobs.find_one()["alertEndpoint"]
    assert sealed.startswith(PREFIX)
    assert HeaderCipher((OLD,)).open_secret(sealed) == "https://a.example.com/x"
    cleared = client.put(f"/api/jobs/{job_id}", json={"alertEndpoint": None}).get_json()["data"]
    assert cleared["alertEndpoint"] is None and mongo_db.jobs.find_one()["alertEndpoint"] is None


def test_a_plaintext_alert_endpoint_from_before_is_read_and_sealed_by_reencrypt(
    mongo_db: Database, clock: FixedClock
) -> None:
    make_app(mongo_db, clock, ()).test_client().post("/api/jobs", json={**JOB,
                                                                         "alertEndpoint": ALERT})
    assert mongo_db.jobs.find_one()["alertEndpoint"] == ALERT  # no key: stored as it is
    app = make_app(mongo_db, clock, (NEW,))
    listed = app.test_client().get("/api/jobs").get_json()["data"]
    assert listed[0]["alertEndpoint"] == "https://alerts.example.com/hooks/T0/s3cret-path?token=***"
    result = app.test_cli_runner().invoke(args=["jobs", "reencrypt"])
    assert result.exit_code == 0 and "re-encrypted the headers of 1 jobs" in result.output
    stored = mongo_db.jobs.find_one()["alertEndpoint"]
    assert stored.startswith(PREFIX) and HeaderCipher((NEW,)).open_secret(stored) == ALERT
    rotated = make_app(mongo_db, clock, (OLD, NEW)).test_cli_runner()
    assert rotated.invoke(args=["jobs", "reencrypt"]).exit_code == 0
    again = mongo_db.jobs.find_one()["alertEndpoint"]
    assert HeaderCipher((OLD,)).open_secret(again) == ALERT  # the first key seals


def test_alerts_go_to_the_opened_alert_endpoint(mongo_db: Database, clock: FixedClock) -> None:
    from scheduler_service.scheduler.alerts import AlertSender
    from scheduler_service.stores.dead_letters import DeadLetterStore

    config = Config(alert_webhook_url="https://ops.example.com/all")
    sealed = HeaderCipher((OLD,)).seal_secret(ALERT)

    def sender(*keys: str) -> AlertSender:
        return AlertSender(DeadLetterStore(mongo_db), config, clock, "me",
                           cipher=HeaderCipher(keys))  # fmt: skip

    assert sender(NEW, OLD).targets(sealed) == ("https://ops.example.com/all", ALERT)
    assert sender(NEW).targets(ALERT) == ("https://ops.example.com/all", ALERT)  # from before
    assert sender(NEW).targets(sealed) == ("https://ops.example.com/all",)  # no key opens it
    assert sender().targets(None) == ("https://ops.example.com/all",)


def test_a_plaintext_value_from_before_is_sealed_when_that_field_changes_not_by_any_change(
    mongo_db: Database, clock: FixedClock
) -> None:
    """README (Jobs' secrets): a value stored before ``ENCRYPTION_KEY`` is sealed when that
    field is next written, or by ``jobs reencrypt``; a change of another field, or the
    masked value sent back as shown, leaves it as stored."""
    secret_headers = {"Authorization": "Bearer t0ken"}
    plain = make_app(mongo_db, clock, ()).test_client()
    plain.post("/api/jobs", json={**JOB, "alertEndpoint": ALERT, "headers": secret_headers})
    client = make_app(mongo_db, clock, (NEW,)).test_client()
    job_id = client.get("/api/jobs").get_json()["data"][0]["jobId"]
    renamed = client.put(f"/api/jobs/{job_id}", json={"name": "renamed"})
    assert renamed.status_code == 200
    stored = mongo_db.jobs.find_one()
    assert stored["alertEndpoint"] == ALERT and stored["headers"] == secret_headers
    shown = renamed.get_json()["data"]["alertEndpoint"]
    assert client.put(f"/api/jobs/{job_id}", json={"alertEndpoint": shown}).status_code == 200
    assert mongo_db.jobs.find_one()["alertEndpoint"] == ALERT  # kept as stored: in clear
    client.put(f"/api/jobs/{job_id}", json={"headers": secret_headers})
    assert mongo_db.jobs.find_one()["headers"]["Authorization"].startswith(PREFIX)
