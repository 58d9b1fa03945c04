"""Signed requests end to end: the scheduler signs, a local target verifies every request
with the ``standardwebhooks`` library (real wire server, real HTTP target on 127.0.0.1)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from pymongo.database import Database
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.http_target import HttpTarget, ReceivedRequest
from tests.support.in_process import running_service

pytestmark = pytest.mark.integration


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


GLOBAL_NEW, GLOBAL_OLD, OWN = new_secret(), new_secret(), new_secret()


@pytest.fixture
def app(wire_uri: str, wire_db: Database) -> Iterator[Flask]:
    with running_service(wire_uri, scheduler_poll_interval_ms=300, job_retry_delay_ms=0,
                         webhook_signing_keys=(GLOBAL_NEW, GLOBAL_OLD)) as created:  # fmt: skip
        yield created


def verify(secret: str, request: ReceivedRequest) -> object:
    return Webhook(secret).verify(request.body, request.headers)


def test_every_request_verifies_and_a_tampered_or_stale_one_does_not(app: Flask) -> None:
    with HttpTarget() as target:
        target.respond_sequence("/own", [500, 200])
        api = app.test_client()
        signed_by_keys = api.post("/api/jobs", json={
            "schedule": "0 0 0 1 1 *", "endpoint": target.url("/keys"),
            "body": {"at": "{{timestamp}}", "text": "café"}}).get_json()["data"]
        own = api.post("/api/jobs", json={
            "schedule": "0 0 0 1 1 *", "endpoint": target.url("/own"), "method": "PUT",
            "body": {"n": 1}, "retryAttempts": 1, "signingSecret": OWN}).get_json()["data"]
        for job in (signed_by_keys, own):
            assert api.post(f"/api/jobs/{job['jobId']}/run").status_code == 202
        by_keys = target.wait_for_requests("/keys", 1, timeout_s=10)[0]
        first, retry = target.wait_for_requests("/own", 2, timeout_s=10)

    # WEBHOOK_SIGNING_KEYS: both keys sign, so a receiver on either side of a rotation verifies.
    for secret in (GLOBAL_NEW, GLOBAL_OLD):
        assert verify(secret, by_keys)["text"] == "café"  # type: ignore[index]
    assert by_keys.header("webhook-id") == by_keys.header("Idempotency-Key")
    # A job's own secret replaces the keys; each attempt is signed at its own time, under
    # the tick's one id.
    for request in (first, retry):
        assert verify(OWN, request) == {"n": 1}
        assert request.header("webhook-id") == request.header("Idempotency-Key")
        stamp = datetime.fromtimestamp(int(request.header("webhook-timestamp") or 0), UTC)
        assert abs(stamp - request.received_at) < timedelta(seconds=2)
        with pytest.raises(WebhookVerificationError):
            verify(GLOBAL_NEW, request)
    assert first.header("webhook-id") == retry.header("webhook-id")

    with pytest.raises(WebhookVerificationError):
        Webhook(OWN).verify(first.body.replace(b"1", b"2"), first.headers)
    with pytest.raises(WebhookVerificationError, match="too old"):
        stale = int(first.header("webhook-timestamp") or 0) - 600
        Webhook(OWN).verify(first.body, {**first.headers, "webhook-timestamp": str(stale)})


def test_without_keys_or_secret_nothing_is_signed(wire_uri: str, wire_db: Database) -> None:
    with running_service(wire_uri, scheduler_poll_interval_ms=300) as app, HttpTarget() as target:
        api = app.test_client()
        job = api.post("/api/jobs", json={"schedule": "0 0 0 1 1 *",
                                          "endpoint": target.url("/plain")}).get_json()["data"]
        api.post(f"/api/jobs/{job['jobId']}/run")
        received = target.wait_for_requests("/plain", 1, timeout_s=10)[0]
    assert received.header("webhook-signature") is None
    assert received.header("webhook-id") is None
