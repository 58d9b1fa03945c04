"""A job's own ``Authorization`` header wins over its endpoint's userinfo (``requests`` would
set ``Basic`` from the userinfo over it); without one, the userinfo is sent as ``Basic``.
On the real wire server, with a real target on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.support.http_target import HttpTarget
from tests.support.in_process import running_service

pytestmark = pytest.mark.integration

BASIC_USER_PW = "Basic dXNlcjpwdw=="  # user:pw


@pytest.fixture
def app(wire_uri: str) -> Iterator[Flask]:
    with running_service(wire_uri, scheduler_poll_interval_ms=200, job_timeout_ms=3000) as app:
        yield app


def run_once(app: Flask, target: HttpTarget, path: str, headers: dict[str, str]) -> str | None:
    """Create a job on ``user:pw@`` + ``path``, run it, and return the Authorization received."""
    api = app.test_client()
    created = api.post("/api/jobs", json={
        "schedule": "0 0 0 1 1 *", "method": "GET", "headers": headers, "retryAttempts": 0,
        "endpoint": f"http://user:pw@127.0.0.1:{target.port}{path}?token=abc",
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    job_id = created.get_json()["data"]["jobId"]
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202
    received = target.wait_for_requests(path, 1, timeout_s=15)[0]
    assert received.query == "token=abc"
    return received.header("Authorization")


def test_the_jobs_authorization_header_wins_over_url_userinfo(app: Flask,
                                                              target: HttpTarget) -> None:
    sent = run_once(app, target, "/ok", {"Authorization": "Bearer supersecret"})
    assert sent == "Bearer supersecret"


def test_any_spelling_of_the_header_wins(app: Flask, target: HttpTarget) -> None:
    assert run_once(app, target, "/lower", {"authorization": "Token t-1"}) == "Token t-1"


def test_url_userinfo_is_sent_as_basic_when_the_job_sets_no_authorization(
    app: Flask, target: HttpTarget
) -> None:
    sent = run_once(app, target, "/basic", {"X-Other": "1"})
    assert sent == BASIC_USER_PW
