"""The API against the real MongoDB-wire server (SecantusDB), and a database that hangs."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from bson import ObjectId
from flask import Flask
from flask.testing import FlaskClient
from pymongo.database import Database
from werkzeug.serving import make_server

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime
from scheduler_service.stores import executions as executions_store
from scheduler_service.stores import jobs as jobs_store

pytestmark = pytest.mark.integration

JOB = {
    "schedule": "0 */5 * * * *",
    "endpoint": "https://api.example.com/webhook",
    "headers": {"Authorization": "Bearer raw-token"},
    "body": {"event": "scheduled_task", "n": [1, 2.5, None, True]},
}


def make_app(uri: str, **overrides: Any) -> Flask:
    return create_app(open_runtime(Config(mongodb_uri=uri, scheduler_enabled=False, **overrides)))


def close(app: Flask) -> None:
    client = get_runtime(app).client
    if client is not None:
        client.close()


@pytest.fixture
def wire_app(wire_uri: str) -> Iterator[Flask]:
    app = make_app(wire_uri)
    yield app
    close(app)


@pytest.fixture
def api(wire_app: Flask) -> FlaskClient:
    return wire_app.test_client()


def test_job_round_trip(api: FlaskClient, wire_db: Database) -> None:
    created = api.post("/api/jobs", json=JOB)
    assert created.status_code == 201, created.json
    job = created.json["data"]
    job_id = job["jobId"]
    assert job["headers"] == {"Authorization": "Bearer ***"}
    assert job["body"] == JOB["body"]
    assert job["nextRunAt"].endswith(("0:00.000Z", "5:00.000Z"))
    stored = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert stored["headers"]["Authorization"] == "Bearer raw-token"

    listed = api.get("/api/jobs?limit=10").json
    assert [j["jobId"] for j in listed["data"]] == [job_id]
    assert listed["pagination"] == {"page": 1, "limit": 10, "total": 1, "totalPages": 1,
                                    "totalExact": True, "complete": True, "nextCursor": None}
    assert api.get(f"/api/jobs/{job_id}").json["data"] == job

    updated = api.put(f"/api/jobs/{job_id}", json={"enabled": False, "method": "GET"}).json
    assert (updated["data"]["enabled"], updated["data"]["nextRunAt"]) == (False, None)
    assert updated["data"]["method"] == "GET"

    started = datetime(2024, 1, 1, 12, tzinfo=UTC)
    wire_db["job_executions"].insert_one({
        "jobId": ObjectId(job_id), "status": "failure", "startedAt": started,
        "scheduledAt": started, "attempt": 1, "errorMessage": "HTTP 502",
    })  # fmt: skip
    executions = api.get(f"/api/jobs/{job_id}/executions?limit=5").json["data"]
    assert [(e["status"], e["startedAt"]) for e in executions] == [
        ("failure", "2024-01-01T12:00:00.000Z")
    ]
    assert api.get("/api/observability/failures").json["data"][0]["jobId"] == job_id

    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    assert len(wire_db["jobs"].find_one({"_id": ObjectId(job_id)})["inflight"]) == 1

    assert api.delete(f"/api/jobs/{job_id}").json["data"] == {"jobId": job_id, "deleted": True}
    assert api.get(f"/api/jobs/{job_id}").status_code == 404
    assert wire_db["job_executions"].count_documents({"jobId": ObjectId(job_id)}) == 1


def test_validation_errors_store_nothing(api: FlaskClient, wire_db: Database) -> None:
    response = api.post("/api/jobs", json={**JOB, "schedule": "0 0 0 30 2 *"})
    assert response.status_code == 400
    assert "schedule" in response.json["error"]["details"]
    assert wire_db["jobs"].count_documents({}) == 0


def index_names(db: Database, collection: str) -> set[str]:
    return {index["name"] for index in db[collection].list_indexes()}


def test_indexes_exist_after_start_up_and_creating_them_again_is_harmless(
    wire_app: Flask, wire_uri: str, wire_db: Database
) -> None:
    expected_jobs = {i.document["name"] for i in jobs_store.INDEXES} | {"_id_"}
    expected_executions = {i.document["name"] for i in executions_store.INDEXES} | {"_id_"}
    assert index_names(wire_db, "jobs") >= expected_jobs
    assert index_names(wire_db, "job_executions") >= expected_executions

    runtime = get_runtime(wire_app)
    runtime.jobs.ensure_indexes()
    runtime.executions.ensure_indexes()
    close(make_app(wire_uri))  # a second process starting up
    assert index_names(wire_db, "jobs") >= expected_jobs
    assert index_names(wire_db, "job_executions") >= expected_executions
    unique = [i for i in wire_db["job_executions"].list_indexes() if i.get("unique")]
    assert [i["name"] for i in unique] == ["jobId_1_scheduledAt_1_attempt_1"]


def test_health_reports_the_external_database(api: FlaskClient) -> None:
    body = api.get("/api/observability/health").json
    assert body["success"] is True and body["status"] == "healthy"
    assert body["database"]["status"] == "connected"
    assert body["database"]["kind"] == "external"
    assert body["database"]["latencyMs"] >= 0
    assert body["scheduler"]["isRunning"] is False


class FreezableProxy:
    """A TCP proxy to the database that can stop forwarding: a database that hangs."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                while self.frozen.is_set() and not self.closed.is_set():
                    time.sleep(0.01)  # hold the bytes: the peer waits for an answer
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


@pytest.fixture
def proxy(wire_server: str) -> Iterator[FreezableProxy]:
    parts = urlsplit(wire_server)
    server = FreezableProxy((parts.hostname or "127.0.0.1", parts.port or 27017))
    yield server
    server.close()


def test_a_hung_database_answers_503_within_the_deadline(
    proxy: FreezableProxy, wire_uri: str
) -> None:
    parts = urlsplit(wire_uri)
    uri = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    app = make_app(uri, db_timeout_ms=1000)
    api = app.test_client()
    assert api.get("/api/jobs").status_code == 200
    proxy.frozen.set()
    try:
        for method, path, kwargs in [("get", "/api/jobs", {}),
                                     ("post", "/api/jobs", {"json": JOB}),
                                     ("get", "/api/observability/health", {})]:  # fmt: skip
            started = time.monotonic()
            response = getattr(api, method)(path, **kwargs)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.json)
            assert response.json["success"] is False
            assert response.json["error"]["code"] == "UNAVAILABLE"
            assert elapsed < 3.0, (path, elapsed)
    finally:
        proxy.frozen.clear()
        proxy.close()
        close(app)


def test_a_chunked_oversize_body_is_413_over_real_http(wire_uri: str) -> None:
    """The dev server de-chunks (``wsgi.input_terminated``) without a Content-Length."""
    app = make_app(wire_uri, max_request_bytes=2048)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for size, status in [(100_000, 413), (500, 400)]:
            body = json.dumps({"body": "x" * size}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request("POST", "/api/jobs", body=iter([body[:100], body[100:]]),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            response = conn.getresponse()
            assert response.status == status
            assert response.getheader("Content-Type") == "application/json"
            assert json.loads(response.read())["success"] is False
            conn.close()
    finally:
        server.shutdown()
        close(app)


def test_api_keys_guard_the_api_on_the_wire_server(wire_uri: str, wire_db: Any) -> None:
    key = "wire-key-0123456789abcdef"
    app = make_app(wire_uri, api_keys=(key,), rate_limit="off")
    try:
        client = app.test_client()
        refused = client.post("/api/jobs", json=JOB)
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "UNAUTHORIZED"
        assert wire_db.jobs.count_documents({}) == 0
        assert client.get("/api/observability/health").status_code == 200
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/api/jobs", json=JOB, headers=headers).status_code == 201
        assert wire_db.jobs.count_documents({}) == 1
    finally:
        close(app)
