"""End to end, as deployed: client -> nginx (deploy/nginx.conf) -> gunicorn with two workers
(deploy/gunicorn.conf.py) -> the app -> the wire server, and the scheduler firing a real
HTTP target on 127.0.0.1. Run by `make deploy-test`."""

from __future__ import annotations

import json
import select
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS31Validator

from tests.deploy.stack import Process, start_gunicorn, start_nginx
from tests.support.http_target import HttpTarget
from tests.support.waiting import wait_until

pytestmark = pytest.mark.deploy

API_KEY = "deploy-test-key-0123456789abcdef"
MAX_REQUEST_BYTES = 1024 * 1024
WORKERS = 2


@dataclass
class Stack:
    url: str  # nginx
    gunicorn_url: str
    nginx_dir: Path
    session: requests.Session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, f"{self.url}{path}", **kwargs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, deploy_db_uri: str) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("deploy")
    processes: list[Process] = []
    try:
        gunicorn, gunicorn_port = start_gunicorn(
            log_dir, WORKERS,
            MONGODB_URI=deploy_db_uri,
            SCHEDULER_POLL_INTERVAL=500,
            ALLOW_PRIVATE_TARGETS="true",  # the target is on 127.0.0.1
            TRUST_PROXY="true",
            API_KEYS=API_KEY,
            SECRET_KEY="s" * 32,  # required with API_KEYS (the dashboard's sessions)
            JOB_RETRY_ATTEMPTS=0,
            DATA_DIR=str(log_dir / "data"),
        )  # fmt: skip
        processes.append(gunicorn)
        nginx, nginx_port = start_nginx(log_dir / "nginx", gunicorn_port)
        processes.append(nginx)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        yield Stack(f"http://127.0.0.1:{nginx_port}", f"http://127.0.0.1:{gunicorn_port}",
                    log_dir / "nginx", session)  # fmt: skip
        session.close()
    finally:
        for process in reversed(processes):
            process.stop()
        for process in processes:
            print(process.tail())


def assert_json_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    return body


def fits_spec(spec: dict[str, Any], component: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    errors = [e.message for e in OAS31Validator(schema).iter_errors(instance)]
    assert not errors, f"{component}: {errors}"


def test_health_through_nginx(stack: Stack) -> None:
    answer = requests.get(f"{stack.url}/api/observability/health", timeout=10)  # no key needed
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["success"] is True and body["status"] == "healthy"
    assert body["database"]["status"] == "connected"
    assert body["scheduler"]["isRunning"] is True
    assert_json_error(requests.get(f"{stack.url}/api/jobs", timeout=10), 401, "UNAUTHORIZED")


def test_a_job_fires_once_per_tick_across_workers(stack: Stack, target: HttpTarget) -> None:
    created = stack.call("POST", "/api/jobs", json={
        "schedule": "* * * * * *",  # every second
        "endpoint": target.url("/e2e"),
        "method": "POST",
        "headers": {"X-Api-Token": "s3cret"},
        "body": {"tick": "{{timestamp}}"},
        "retryAttempts": 0,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    job = created.json()["data"]
    assert created.headers["Location"] == f"/api/jobs/{job['jobId']}"
    assert job["headers"] == {"X-Api-Token": "***"}

    target.wait_for_requests("/e2e", 4, timeout_s=20)
    run = stack.call("POST", f"/api/jobs/{job['jobId']}/run")
    assert run.status_code == 202, run.text
    manual_tick = run.json()["data"]["scheduledAt"]
    wait_until(
        lambda: any(r.header("X-Scheduler-Scheduled-At") == manual_tick
                    for r in target.requests_for("/e2e")),
        timeout_s=10, message="the manual run to reach the target",
    )  # fmt: skip

    paused = stack.call("PUT", f"/api/jobs/{job['jobId']}", json={"enabled": False})
    assert paused.status_code == 200 and paused.json()["data"]["nextRunAt"] is None
    time.sleep(2)  # whatever was claimed before the pause finishes and is recorded
    received = target.requests_for("/e2e")
    time.sleep(1.5)
    assert len(target.requests_for("/e2e")) == len(received), "fired after it was disabled"

    # No tick fired twice, whichever worker claimed it.
    keys = Counter(r.header("Idempotency-Key") for r in received)
    assert None not in keys and max(keys.values()) == 1, keys
    ticks = Counter(r.header("X-Scheduler-Scheduled-At") for r in received)
    assert max(ticks.values()) == 1, ticks
    for request in received:
        assert request.header("X-Api-Token") == "s3cret"
        assert request.json() == {"tick": request.header("X-Scheduler-Scheduled-At")}
        assert request.header("X-Scheduler-Attempt") == "1"

    # The history agrees: one successful attempt per request the target saw.
    answer = stack.call("GET", f"/api/jobs/{job['jobId']}/executions?limit=100")
    assert answer.status_code == 200, answer.text
    spec = stack.call("GET", "/api/openapi.json").json()
    fits_spec(spec, "ExecutionListEnvelope", answer.json())
    executions = answer.json()["data"]
    assert sorted(e["scheduledAt"] for e in executions) == sorted(ticks)
    assert {(e["status"], e["attempt"], e["responseCode"]) for e in executions} == {
        ("success", 1, 200)
    }

    assert stack.call("DELETE", f"/api/jobs/{job['jobId']}").status_code == 200
    gone = stack.call("GET", f"/api/jobs/{job['jobId']}/executions")
    assert_json_error(gone, 404, "NOT_FOUND")


def job_of_size(size: int) -> bytes:
    """A valid job (disabled, so it never fires) whose JSON is exactly ``size`` bytes."""
    job = {"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/never", "enabled": False,
           "body": ""}  # fmt: skip
    empty = len(json.dumps(job).encode())
    job["body"] = "x" * (size - empty)
    raw = json.dumps(job).encode()
    assert len(raw) == size
    return raw


def test_an_oversize_body_is_refused_by_nginx_as_json(stack: Stack) -> None:
    json_type = {"Content-Type": "application/json"}
    too_big = stack.call("POST", "/api/jobs", data=job_of_size(MAX_REQUEST_BYTES + 1),
                         headers=json_type)  # fmt: skip
    body = assert_json_error(too_big, 413, "PAYLOAD_TOO_LARGE")
    assert body["error"]["details"] == {"maxBytes": MAX_REQUEST_BYTES}
    chunks = (b"[" + b" " * 65536 for _ in range(20))  # chunked, no Content-Length
    chunked = stack.call("POST", "/api/jobs", data=chunks, headers=json_type)
    assert_json_error(chunked, 413, "PAYLOAD_TOO_LARGE")
    # nginx refused both itself: the app never saw them
    error_log = (stack.nginx_dir / "error.log").read_text()
    assert error_log.count("client intended to send too large") >= 2, error_log[-2000:]

    # Exactly the limit passes nginx and the app: the two limits agree.
    at_limit = stack.call("POST", "/api/jobs", data=job_of_size(MAX_REQUEST_BYTES),
                          headers=json_type)  # fmt: skip
    assert at_limit.status_code == 201, at_limit.text[:500]
    assert stack.call("DELETE", f"/api/jobs/{at_limit.json()['data']['jobId']}").ok


def test_errors_nginx_or_gunicorn_answer_themselves_are_json(stack: Stack) -> None:
    assert_json_error(stack.call("GET", "/api/jobs?x=" + "a" * 9000), 414, "VALIDATION_ERROR")
    assert_json_error(stack.call("GET", "/api/jobs?x=" + "a" * 5000), 414, "VALIDATION_ERROR")
    big_header = {"X-Big": "a" * 9000}
    assert_json_error(stack.call("GET", "/api/jobs", headers=big_header), 431, "VALIDATION_ERROR")
    assert_json_error(stack.call("GET", "/_errors/413.json"), 404, "NOT_FOUND")
    assert_json_error(stack.call("GET", "/nothing/here"), 404, "NOT_FOUND")
    assert_json_error(stack.call("DELETE", "/api/jobs"), 405, "METHOD_NOT_ALLOWED")


def test_nginx_answers_json_when_gunicorn_is_down(
    stack: Stack, tmp_path: Path
) -> None:
    from tests.support.ports import free_port

    nginx, port = start_nginx(tmp_path / "nginx-down", free_port())  # nothing listens there
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/api/observability/health", timeout=10)
        assert_json_error(answer, 502, "UNAVAILABLE")
        assert answer.headers["Retry-After"] == "5"
    finally:
        nginx.stop()


SLOW_CLIENTS = 50


def hold_slow_connections(port: int) -> list[socket.socket]:
    """50 connections that each send part of a request and stop: half a request line, a
    request line and half its headers, or the headers of a POST and part of its body."""
    partial = [
        b"GET /api/observabi",
        b"GET /api/observability/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{\"schedule\": ",
    ]
    held = []
    for i in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(partial[i % len(partial)])
        held.append(sock)
    return held


def test_slow_clients_holding_connections_do_not_take_the_api_down(stack: Stack) -> None:
    """Issue 18: idle half-sent requests held every gunicorn thread. nginx reads whole
    requests before it passes them on (deploy/nginx.conf), so gunicorn never waits on them."""
    port = int(stack.url.rsplit(":", 1)[1])
    held = hold_slow_connections(port)
    try:
        for _ in range(3 * WORKERS * 4):  # more requests than gunicorn has threads
            health = requests.get(f"{stack.url}/api/observability/health", timeout=5)
            assert health.status_code == 200, health.text
        created = stack.call("POST", "/api/jobs", timeout=5, json={
            "schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/never",
            "enabled": False,
        })  # fmt: skip
        assert created.status_code == 201, created.text
        assert stack.call("DELETE", f"/api/jobs/{created.json()['data']['jobId']}").ok
        # The slow clients were still connected, and still unanswered, the whole time.
        readable, _, _ = select.select(held, [], [], 0)
        assert readable == [], "nginx closed or answered a slow client early"
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"SCRIPT_NAME": "/x"},  # not a prefix of the path: gunicorn answered 500
        {"SCRIPT_NAME": "/api"},  # a prefix: gunicorn would have cut it off the path
        {"PATH_INFO": "/api/observability/health"},
        {"SCRIPT_NAME": "/api", "PATH_INFO": "/jobs"},
    ],
)
def test_gunicorn_takes_no_forwarding_header_from_loopback_clients(
    stack: Stack, headers: dict[str, str]
) -> None:
    """The client is on 127.0.0.1, which gunicorn trusts by default; it must not matter."""
    direct = stack.session.get(f"{stack.gunicorn_url}/api/jobs?limit=1", headers=headers,
                               timeout=10)  # fmt: skip
    assert direct.status_code == 200, direct.text
    assert direct.json()["pagination"]["limit"] == 1


@pytest.mark.parametrize("path", ["//api/jobs", "/api//jobs", "///api/jobs", "/api/jobs//"])
def test_doubled_slashes_are_a_json_404_through_nginx_and_gunicorn(stack: Stack, path: str) -> None:
    for base in (stack.url, stack.gunicorn_url):
        request = stack.session.prepare_request(requests.Request("GET", f"{base}{path}"))
        assert request.path_url == path  # sent as given
        answer = stack.session.send(request, timeout=10)
        assert_json_error(answer, 404, "NOT_FOUND")
