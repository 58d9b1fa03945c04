"""However gunicorn serves the app, `make run`'s way (``-c deploy/gunicorn.conf.py``) or as
plain ``gunicorn wsgi:app`` from the project directory (the root ``gunicorn.conf.py``), the
same protections hold: no forwarding header taken from a loopback client, JSON for the
errors gunicorn answers by itself, and a scheduler in the worker (issue 18, item 9)."""

from __future__ import annotations

import socket

import pytest

from tests.support.processes import ProcessGroup, api, service_env

pytestmark = pytest.mark.fault


@pytest.fixture(params=["deploy/gunicorn.conf.py", "plain"])
def url(request: pytest.FixtureRequest, wire_uri: str, group: ProcessGroup) -> str:
    service = group.gunicorn("service", service_env(wire_uri), plain=request.param == "plain")
    group.wait_ready()  # health answers with a running scheduler
    return service.base_url


@pytest.mark.parametrize(
    "headers",
    [{"SCRIPT_NAME": "/x"}, {"SCRIPT_NAME": "/api"}, {"PATH_INFO": "/api/observability/health"},
     {"SCRIPT_NAME": "/api", "PATH_INFO": "/jobs"}, {"X-Forwarded-Proto": "https"}],
)  # fmt: skip
def test_no_forwarding_header_is_taken_from_a_loopback_client(
    url: str, headers: dict[str, str]
) -> None:
    answer = api(url, "GET", "/api/jobs?limit=1", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["pagination"]["limit"] == 1


def test_an_error_gunicorn_answers_itself_is_json(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 "), head
    assert b"Content-Type: application/json" in head
    assert body.startswith(b'{"success": false, "error": {"code": "VALIDATION_ERROR"')
