"""Issue 18, on the real wire server: what the API accepts can be stored and sent as given,
everything else is a 400 naming the field and changes nothing (classes 3, 4 and 6), and
manual runs per job are bounded (class 8)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from bson import ObjectId
from flask import Flask
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.payload import outgoing_headers
from scheduler_service.delivery.session import new_session
from scheduler_service.services.job_service import MAX_MANUAL_RUNS_IN_FLIGHT
from tests.support.api_on_wire import api_on_wire
from tests.support.http_target import HttpTarget

pytestmark = pytest.mark.integration

JOB = {"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/never", "enabled": False}
TICK = datetime(2024, 1, 1, 12, tzinfo=UTC)
MIB = 1024 * 1024


@pytest.fixture
def wire_app(wire_uri: str) -> Iterator[Flask]:
    with api_on_wire(wire_uri, allow_private_targets=True, max_request_bytes=24 * MIB) as app:
        yield app


@pytest.fixture
def api(wire_app: Flask) -> FlaskClient:
    return wire_app.test_client()


def post_raw(api: FlaskClient, raw: str | bytes, path: str = "/api/jobs") -> Any:
    return api.post(path, data=raw, content_type="application/json")


def refused(response: Any, field: str) -> None:
    """A 400 whose details name ``field``."""
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    error = response.json["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error


def send_stored_job(wire_db: Database, job_id: str, target: HttpTarget) -> requests.Response:
    """Send the job as stored on the wire server, the way an attempt sends it."""
    stored = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    headers = outgoing_headers(stored["headers"], job_id=job_id, scheduled_at=TICK, attempt=1)
    with new_session() as session:
        return perform(AttemptRequest(
            url=target.url("/sent"), method=stored["method"], headers=headers,
            body=stored["body"], timeout_s=5.0, max_response_bytes=4096, allow_private=True,
        ), session)  # fmt: skip


# -- class 3: accepted means storable and sendable ------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", "body": "\\ud800"}',
         "body"),
        ('{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", '
         '"body": {"a": [1, {"b": "x\\udfff"}]}}', "body"),
        ('{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", '
         '"body": {"k\\udc00": 1}}', "body"),
        ('{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/\\ud83d"}', "endpoint"),
        ('{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", '
         '"headers": {"X-A": "\\ud800"}}', "headers"),
        ('{"schedule": "0 0 0 1 1 *\\udc00", "endpoint": "http://127.0.0.1:9/"}', "schedule"),
    ],
)  # fmt: skip
def test_lone_surrogates_are_a_400_naming_the_field(
    api: FlaskClient, wire_db: Database, raw: str, field: str
) -> None:
    refused(post_raw(api, raw), field)
    assert wire_db["jobs"].count_documents({}) == 0


def test_a_surrogate_pair_is_text_and_round_trips(
    api: FlaskClient, wire_db: Database, target: HttpTarget
) -> None:
    created = post_raw(api, json.dumps({**JOB, "body": {"face": "\U0001f600"}}))  # ASCII-escaped
    assert created.status_code == 201, created.json
    assert created.json["data"]["body"] == {"face": "\U0001f600"}
    assert send_stored_job(wire_db, created.json["data"]["jobId"], target).success
    assert target.requests_for("/sent")[0].json() == {"face": "\U0001f600"}


@pytest.mark.parametrize(
    "body",
    [
        "x" * (9 * MIB),  # a long string: BSON takes its bytes
        [0] * (1_500_000),  # 3 MB of JSON, 17 MB of BSON (each element's index is its key)
        [[]] * 800_000,
    ],
    ids=["string", "zeros", "empty-arrays"],
)
def test_a_body_too_large_to_store_is_a_400_naming_body(
    api: FlaskClient, wire_db: Database, body: Any
) -> None:
    refused(post_raw(api, json.dumps({**JOB, "body": body}, separators=(",", ":"))), "body")
    assert wire_db["jobs"].count_documents({}) == 0
    job_id = post_raw(api, json.dumps(JOB)).json["data"]["jobId"]
    refused(api.put(f"/api/jobs/{job_id}", json={"body": body}), "body")
    assert wire_db["jobs"].find_one({"_id": ObjectId(job_id)})["body"] is None


def test_a_large_body_under_the_limit_is_stored_whole(
    api: FlaskClient, wire_db: Database
) -> None:
    body = {"blob": "y" * (4 * MIB)}
    created = post_raw(api, json.dumps({**JOB, "body": body}))
    assert created.status_code == 201
    stored = wire_db["jobs"].find_one({"_id": ObjectId(created.json["data"]["jobId"])})
    assert stored["body"] == body


# -- classes 3 and 4: headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Lead", " v"), ("X-Lead-Tab", "\tv"), ("X-Trail", "v "), ("X-VT", "a\x0bb"),
        ("X-FF", "a\x0cb"), ("X-DEL", "a\x7fb"), ("X-NUL", "a\x00b"), ("X-CRLF", "a\r\nb: c"),
        ("X-Bell", "\x07"), ("X-Wide", "snowman \u2603"), ("X-Long", "v" * (8 * 1024 + 1)),
        ("X-" + "n" * 255, "v"),  # a name over 256 characters
        ("$where", "v"), ("$set", "v"), ("X Space", "v"), ("", "v"),
        # framing and connection headers, whatever their case, and Host
        ("Transfer-Encoding", "chunked"), ("content-length", "0"), ("Connection", "close"),
        ("UPGRADE", "h2c"), ("TE", "trailers"), ("Keep-Alive", "timeout=5"),
        ("Trailer", "X-A"), ("Proxy-Authorization", "Basic eA=="), ("proxy-connection", "x"),
        ("Host", "internal.example"),
    ],
)  # fmt: skip
def test_headers_that_cannot_be_sent_as_given_are_a_400(
    api: FlaskClient, wire_db: Database, name: str, value: str
) -> None:
    refused(api.post("/api/jobs", json={**JOB, "headers": {name: value}}), "headers")
    job_id = api.post("/api/jobs", json=JOB).json["data"]["jobId"]
    refused(api.put(f"/api/jobs/{job_id}", json={"headers": {name: value}}), "headers")
    assert wire_db["jobs"].find_one({"_id": ObjectId(job_id)})["headers"] == {}


def test_a_header_name_given_twice_in_any_case_is_a_400(api: FlaskClient) -> None:
    refused(api.post("/api/jobs", json={**JOB, "headers": {"X-A": "1", "x-a": "2"}}), "headers")
    raw = '{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", ' \
          '"headers": {"X-A": "1", "X-A": "2"}}'  # fmt: skip
    assert post_raw(api, raw).status_code == 400


def test_every_header_accepted_is_stored_and_sent_exactly(
    api: FlaskClient, wire_db: Database, target: HttpTarget
) -> None:
    accepted = {
        "X-Tab-Inside": "a\tb", "X-Latin-1": "caf\u00e9 \u00ff", "X-Empty": "",
        "X-" + "n" * 254: "v" * (8 * 1024), "X-Dollar$Inside": "1", "Accept": "text/plain",
        "X.Dotted": "d", "Proxied": "not a Proxy-* header",
    }  # fmt: skip
    created = api.post("/api/jobs", json={**JOB, "method": "PUT", "headers": accepted,
                                          "body": {"n": 1}})  # fmt: skip
    assert created.status_code == 201, created.json
    outcome = send_stored_job(wire_db, created.json["data"]["jobId"], target)
    assert outcome.success, outcome.error_message
    received = target.requests_for("/sent")[0]
    for name, value in accepted.items():
        assert received.header(name) == value, name
    # One framing header, the one the scheduler computed; Host names the endpoint.
    assert received.json() == {"n": 1}
    assert received.header("Content-Length") == str(len(received.body))
    assert received.header("Transfer-Encoding") is None
    assert received.header("Host") == f"127.0.0.1:{target.port}"


# -- class 6: parsing as strict as documented -----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", "enabled": true, '
        '"enabled": false}',
        '{"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/", "enabled": false, '
        '"body": {"a": 1, "b": 2, "a": 3}}',
        '{"schedule": "0 0 0 1 1 *", "schedule": "* * * * * *", '
        '"endpoint": "http://127.0.0.1:9/", "enabled": false}',
    ],
)
def test_a_key_given_twice_is_a_400_and_stores_nothing(
    api: FlaskClient, wire_db: Database, raw: str
) -> None:
    answer = post_raw(api, raw)
    assert answer.status_code == 400
    assert "more than once" in answer.json["error"]["message"]
    assert wire_db["jobs"].count_documents({}) == 0
    job_id = post_raw(api, json.dumps(JOB)).json["data"]["jobId"]
    answer = api.put(f"/api/jobs/{job_id}", data='{"retryAttempts": 1, "retryAttempts": 2}',
                     content_type="application/json")  # fmt: skip
    assert answer.status_code == 400
    assert wire_db["jobs"].find_one({"_id": ObjectId(job_id)})["retryAttempts"] != 2


@pytest.mark.parametrize(
    "value", ["\u0665", "\uff15", "+5", "5_0", " 5", "5 ", "-1", "0x5", "5.0", "1e1", "",
              "9" * 20],
)  # fmt: skip
def test_limit_and_page_take_ascii_digits_only(api: FlaskClient, value: str) -> None:
    job_id = api.post("/api/jobs", json=JOB).json["data"]["jobId"]
    for path, name in [("/api/jobs", "limit"), ("/api/jobs", "page"),
                       (f"/api/jobs/{job_id}/executions", "limit"),
                       ("/api/observability/failures", "limit")]:  # fmt: skip
        answer = api.get(path, query_string={name: value})
        refused(answer, name)
    assert api.get("/api/jobs", query_string={"limit": "05", "page": "1"}).status_code == 200


@pytest.mark.parametrize(
    "method", ["po\u017ft", "\uff30\uff2f\uff33\uff34", "GE\u0442", "DELETE\u0131"]
)
def test_method_is_ascii_before_it_is_upper_cased(
    api: FlaskClient, wire_db: Database, method: str
) -> None:
    refused(api.post("/api/jobs", json={**JOB, "method": method}), "method")
    assert wire_db["jobs"].count_documents({}) == 0
    assert api.post("/api/jobs", json={**JOB, "method": "pOsT"}).json["data"]["method"] == "POST"


# -- class 8: manual runs per job are bounded -----------------------------------------------


def test_manual_runs_beyond_the_maximum_are_a_409(api: FlaskClient, wire_db: Database) -> None:
    job_id = api.post("/api/jobs", json=JOB).json["data"]["jobId"]
    for _ in range(MAX_MANUAL_RUNS_IN_FLIGHT):
        assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    over = api.post(f"/api/jobs/{job_id}/run")
    assert over.status_code == 409
    assert over.json["error"]["code"] == "CONFLICT"
    assert over.json["error"]["details"] == {"maxManualRuns": MAX_MANUAL_RUNS_IN_FLIGHT}
    stored = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert len(stored["inflight"]) == MAX_MANUAL_RUNS_IN_FLIGHT
    # One finishes (its entry leaves the job): there is room for one more, and only one.
    wire_db["jobs"].update_one({"_id": ObjectId(job_id)}, {"$pop": {"inflight": -1}})
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 409
    # Scheduled ticks in flight and dead-letter replays do not count against it.
    wire_db["jobs"].update_one({"_id": ObjectId(job_id)}, {"$set": {"inflight": [
        {"id": ObjectId(), "manual": False, "state": "running"} for _ in range(3)] + [
        {"id": ObjectId(), "manual": True, "state": "waiting", "replayOf": ObjectId()}
        for _ in range(3)]}})  # fmt: skip
    for _ in range(MAX_MANUAL_RUNS_IN_FLIGHT):
        assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 409
    assert api.post(f"/api/jobs/{ObjectId()}/run").status_code == 404


def test_concurrent_manual_runs_cannot_pass_the_maximum_together(
    wire_app: Flask, api: FlaskClient, wire_db: Database
) -> None:
    job_id = api.post("/api/jobs", json=JOB).json["data"]["jobId"]
    statuses: list[int] = []
    start = threading.Barrier(3 * MAX_MANUAL_RUNS_IN_FLIGHT)

    def run() -> None:
        client = wire_app.test_client()
        start.wait(10)
        statuses.append(client.post(f"/api/jobs/{job_id}/run").status_code)

    threads = [threading.Thread(target=run) for _ in range(3 * MAX_MANUAL_RUNS_IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert Counter(statuses) == {202: MAX_MANUAL_RUNS_IN_FLIGHT, 409: 2 * MAX_MANUAL_RUNS_IN_FLIGHT}
    stored = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert len(stored["inflight"]) == MAX_MANUAL_RUNS_IN_FLIGHT
