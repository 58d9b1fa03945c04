"""``examples/receiver.py`` on the wire server: a signed delivery is applied once, a repeat
answers 200 without applying it again, a bad signature is a 401 that applies nothing.
(``tests/fault/test_effectively_once.py`` runs it as a process under kill -9.)"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.delivery.signing import Signing

pytestmark = pytest.mark.integration

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "receiver.py"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
KEY = "0f8e3d2c-1b4a-5968-8776-655443322110"


def load_receiver(monkeypatch: pytest.MonkeyPatch, uri: str) -> ModuleType:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("MONGODB_URI", uri)
    spec = importlib.util.spec_from_file_location("example_receiver", RECEIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, wire_uri: str) -> Iterator[FlaskClient]:
    module = load_receiver(monkeypatch, wire_uri)
    yield module.app.test_client()
    module.database.client.close()


def post(client: FlaskClient, body: dict, *, key: str = KEY, secret: str = SECRET,
         tamper: bool = False) -> tuple[int, dict]:  # fmt: skip
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = Signing((secret,), key, datetime.now(UTC)).headers(data)
    headers.update({"Idempotency-Key": key, "Content-Type": "application/json"})
    answer = client.post("/hook", data=data + (b" " if tamper else b""), headers=headers)
    return answer.status_code, answer.get_json()


def test_a_tick_is_applied_once_and_a_repeat_answers_200(
    receiver: FlaskClient, wire_db: Database
) -> None:
    assert post(receiver, {"n": 1}) == (200, {"status": "applied"})
    assert post(receiver, {"n": 1}) == (200, {"status": "already applied"})
    assert post(receiver, {"n": 2}, key="another") == (200, {"status": "applied"})
    effects = list(wire_db["effects"].find({}, projection={"_id": False, "appliedAt": False}))
    assert sorted(effects, key=lambda e: e["payload"]["n"]) == [
        {"idempotencyKey": KEY, "path": "hook", "payload": {"n": 1}},
        {"idempotencyKey": "another", "path": "hook", "payload": {"n": 2}},
    ]


def test_a_bad_signature_is_a_401_and_applies_nothing(
    receiver: FlaskClient, wire_db: Database
) -> None:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    assert post(receiver, {"n": 1}, secret=other)[0] == 401
    assert post(receiver, {"n": 1}, tamper=True)[0] == 401
    assert receiver.post("/hook", json={"n": 1}).status_code == 401  # unsigned
    assert wire_db["effects"].count_documents({}) == 0


def test_a_signed_tick_without_a_json_body_is_applied_and_a_garbled_signature_is_a_401(
    receiver: FlaskClient, wire_db: Database
) -> None:
    # A job's body defaults to null: the scheduler then sends no body at all. The library's
    # verify() parses the body as JSON after the signature matched, and raised on b"" (an
    # HTML 500, so such a tick was retried and dead-lettered); a signature header without
    # its "v1," (or not base64) raised ValueError from inside it (a 500 too).
    headers = Signing((SECRET,), KEY, datetime.now(UTC)).headers(b"")
    assert receiver.post("/hook", data=b"", headers=headers).get_json() == {"status": "applied"}
    assert wire_db["effects"].find_one({"idempotencyKey": KEY})["payload"] is None
    for garbled in ("v1", "v1,not base64!", "v1,a,b"):
        answer = receiver.post("/hook", data=b"{}", headers={**headers, "webhook-id": "k2",
                                                             "webhook-signature": garbled})
        assert (answer.status_code, answer.get_json()) == (401, {"error": "bad signature"})
    assert wire_db["effects"].count_documents({}) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_every_method_a_job_can_send_is_applied_once(
    receiver: FlaskClient, wire_db: Database, method: str
) -> None:
    # The receiver took POST only: a GET or DELETE job's signed tick got a 405, retried
    # until it was dead-lettered.
    headers = Signing((SECRET,), KEY, datetime.now(UTC)).headers(b"")
    for expected in ("applied", "already applied"):
        answer = receiver.open("/hook", method=method, data=b"", headers=headers)
        assert (answer.status_code, answer.get_json()) == (200, {"status": expected})
    assert wire_db["effects"].count_documents({"idempotencyKey": KEY}) == 1
