"""Issue 18, class 2, on the real wire server with a real target: a job's secrets (header
values not on the short non-secret list, URL userinfo, query values, fragment) are masked in
every representation (API, /failures, CLI, logs), sealed at rest with ENCRYPTION_KEY, and
sent as given."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from cryptography.fernet import Fernet
from flask import Flask
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.crypto import PREFIX
from scheduler_service.runtime import get_runtime
from tests.support.http_target import HttpTarget
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
# Credential headers the old name patterns missed, and two that are never secret.
SECRET_HEADERS = {
    "X-Authorization": "xa-SECRET-1", "Authentication": "Bearer au-SECRET-2",
    "X-Auth": "xauth-SECRET-3", "X-Credentials": "cred-SECRET-4", "X-Session": "sess-SECRET-5",
    "X-Jwt": "jwt-SECRET-6", "X-Hub-Signature-256": "sha256=sig-SECRET-7",
    "X-Custom": "custom-SECRET-8",
}  # fmt: skip
PLAIN_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
SECRETS = [*(v.split()[-1].split("=")[-1] for v in SECRET_HEADERS.values()),
           "pw-SECRET-9", "user-SECRET-10", "tok-SECRET-11", "key-SECRET-12"]  # fmt: skip


def service(wire_uri: str, keys: tuple[str, ...]) -> Flask:
    config = Config(mongodb_uri=wire_uri, scheduler_poll_interval_ms=200, job_timeout_ms=3000,
                    allow_private_targets=True, rate_limit="off", encryption_keys=keys)  # fmt: skip
    return create_app(open_runtime(config))


@pytest.fixture
def app(wire_uri: str) -> Iterator[Flask]:
    app = service(wire_uri, (KEY,))
    get_runtime(app).start_scheduler()
    yield app
    get_runtime(app).close()


def endpoint(target: HttpTarget, path: str) -> str:
    return (f"http://user-SECRET-10:pw-SECRET-9@127.0.0.1:{target.port}{path}"
            "?token=tok-SECRET-11&api_key=key-SECRET-12")  # fmt: skip


def no_secret_in(text: Any, where: str) -> None:
    shown = text if isinstance(text, str) else json.dumps(text)
    for secret in SECRETS:
        assert secret not in shown, (secret, where, shown[:500])


def test_secrets_are_masked_everywhere_sealed_at_rest_and_sent_as_given(
    app: Flask, wire_db: Database, target: HttpTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = app.test_client()
    target.respond("/hook", status=500, body="no")
    created = api.post("/api/jobs", json={
        "schedule": "0 0 0 1 1 *", "endpoint": endpoint(target, "/hook"), "method": "POST",
        "headers": {**SECRET_HEADERS, **PLAIN_HEADERS}, "body": {"n": 1}, "retryAttempts": 0,
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    job = created.get_json()["data"]
    job_id = job["jobId"]
    assert job["endpoint"] == (f"http://***:***@127.0.0.1:{target.port}/hook"
                               "?token=***&api_key=***")  # fmt: skip
    assert job["headers"] == {
        **{name: "***" for name in SECRET_HEADERS}, "Authentication": "Bearer ***",
        **PLAIN_HEADERS,
    }  # fmt: skip

    # At rest: the endpoint and every header value sealed; nothing readable in the document.
    stored = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert stored["endpoint"].startswith(PREFIX)
    assert all(value.startswith(PREFIX) for value in stored["headers"].values())
    no_secret_in(str(stored), "the stored job")

    # Sent as given: the target sees the credentials, the query and the header values.
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    received = target.wait_for_requests("/hook", 1, timeout_s=15)[0]
    assert received.query == "token=tok-SECRET-11&api_key=key-SECRET-12"
    assert received.header("Authorization") == "Basic dXNlci1TRUNSRVQtMTA6cHctU0VDUkVULTk="
    for name, value in SECRET_HEADERS.items():
        assert received.header(name) == value

    def failed() -> list[dict[str, Any]] | None:
        rows = api.get("/api/observability/failures?limit=100").get_json()["data"]
        return rows or None

    failures = wait_until(failed, timeout_s=15, message="the failed attempt")
    shown = {
        "create": job,
        "get": api.get(f"/api/jobs/{job_id}").get_json(),
        "list": api.get("/api/jobs").get_json(),
        # A client that sends back what it read (the masked endpoint) changes nothing.
        "update": api.put(f"/api/jobs/{job_id}", json={"retryAttempts": 1,
                                                        "endpoint": job["endpoint"]}).get_json(),
        "executions": api.get(f"/api/jobs/{job_id}/executions").get_json(),
        "failures": failures,
    }
    for where, body in shown.items():
        no_secret_in(body, where)
    cli = app.test_cli_runner()
    for args in (["jobs", "list"], ["jobs", "show", job_id]):
        result = cli.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert "127.0.0.1" in result.output
        no_secret_in(result.output, " ".join(args))
    no_secret_in("\n".join(repr(vars(record)) for record in caplog.records), "the logs")
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    second = target.wait_for_requests("/hook", 2, timeout_s=15)[1]
    assert second.query == "token=tok-SECRET-11&api_key=key-SECRET-12"


def test_reencrypt_rotates_the_endpoint_too(
    wire_uri: str, wire_db: Database, target: HttpTarget
) -> None:
    old = service(wire_uri, (KEY,))
    job_id = old.test_client().post("/api/jobs", json={
        "schedule": "0 0 0 1 1 *", "endpoint": endpoint(target, "/rotated"), "method": "GET",
        "retryAttempts": 0,
    }).get_json()["data"]["jobId"]  # fmt: skip
    plain = old.test_client().post("/api/jobs", json={
        "schedule": "0 0 0 1 1 *", "endpoint": f"http://127.0.0.1:{target.port}/plain",
    }).get_json()["data"]["jobId"]  # fmt: skip
    get_runtime(old).close()
    # An endpoint with nothing to mask stays readable at rest.
    assert wire_db["jobs"].find_one({"_id": ObjectId(plain)})["endpoint"].endswith("/plain")

    rotated = service(wire_uri, (NEW_KEY, KEY))
    result = rotated.test_cli_runner().invoke(args=["jobs", "reencrypt"])
    assert result.exit_code == 0, result.output
    get_runtime(rotated).close()

    new_only = service(wire_uri, (NEW_KEY,))
    try:
        get_runtime(new_only).start_scheduler()
        api = new_only.test_client()
        shown = api.get(f"/api/jobs/{job_id}").get_json()["data"]["endpoint"]
        assert shown.endswith("/rotated?token=***&api_key=***")
        assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
        received = target.wait_for_requests("/rotated", 1, timeout_s=15)[0]
        assert received.query == "token=tok-SECRET-11&api_key=key-SECRET-12"
    finally:
        get_runtime(new_only).close()
