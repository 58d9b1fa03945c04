"""Issue 18, class 5: text the target controls (its reason phrase, its Location) reaches the
history and the logs escaped, capped and redacted, the same in both; a 3xx whose Location
is not UTF-8 is recorded as the 3xx it was. A real scheduler, the real wire server and a
raw HTTP target on 127.0.0.1 that answers with exactly the bytes given."""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from scheduler_service.delivery.redaction import MAX_MESSAGE_LENGTH
from tests.support.in_process import running_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ANSWERS: dict[str, bytes] = {
    "/ansi": b"HTTP/1.1 500 \x1b[31mBad\x1b[0m\rjob 1 tick 2 attempt 1: success in 1 ms\r\n",
    "/long": b"HTTP/1.1 503 " + b"A" * 60_000 + b"\r\n",
    "/bidi": b"HTTP/1.1 500 x\x07y\x7fz\t\x0b\r\n",
    "/creds": b"HTTP/1.1 302 Found\r\n"
              b"Location: https://user:location-pw@elsewhere.example/p?token=location-tok\r\n",
    "/latin": b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.example/\xff\xfe/x?t=1\r\n",
    "/long-location": b"HTTP/1.1 307 Temporary\r\nLocation: http://elsewhere.example/"
                      + b"p" * 20_000 + b"\r\n",
}  # fmt: skip


class _RawHandler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True

    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1")
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # headers; the scheduler's requests to these paths have no body it needs
        path = request_line.split(" ")[1] if " " in request_line else "/"
        head = ANSWERS.get(path, b"HTTP/1.1 404 Not Found\r\n")
        self.wfile.write(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n")


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def raw_target() -> Iterator[str]:
    server = _RawServer(("127.0.0.1", 0), _RawHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(wire_uri: str) -> Iterator[FlaskClient]:
    with running_service(wire_uri, scheduler_poll_interval_ms=200, job_timeout_ms=3000) as app:
        yield app.test_client()


def run_once(api: FlaskClient, endpoint: str) -> dict[str, Any]:
    """The job's one attempt, once recorded, as GET /executions shows it."""
    created = api.post("/api/jobs", json={"schedule": "0 0 0 1 1 *", "endpoint": endpoint,
                                          "method": "GET", "retryAttempts": 0})  # fmt: skip
    job_id = created.get_json()["data"]["jobId"]
    assert api.post(f"/api/jobs/{job_id}/run").status_code == 202

    def recorded() -> dict[str, Any] | None:
        rows = api.get(f"/api/jobs/{job_id}/executions").get_json()["data"]
        return rows[0] if rows and rows[0]["status"] != "running" else None

    return wait_until(recorded, timeout_s=15, message=f"the attempt on {endpoint}")


def unsafe_characters(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != " ") or 0x7F <= ord(c) < 0xA0]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/ansi", 500), ("/long", 503), ("/bidi", 500), ("/creds", 302), ("/latin", 301),
     ("/long-location", 307)],
)  # fmt: skip
def test_what_the_target_says_is_stored_and_logged_escaped_capped_and_redacted(
    api: FlaskClient, raw_target: str, caplog: pytest.LogCaptureFixture, path: str, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler_service")
    execution = run_once(api, f"{raw_target}{path}")

    message = execution["errorMessage"]
    assert execution["status"] == "failure"
    assert execution["responseCode"] == status  # the 3xx it was, not an "unexpected error"
    assert message.startswith(f"HTTP {status} ")
    assert unsafe_characters(message) == []
    assert len(message) <= MAX_MESSAGE_LENGTH
    for secret in ("location-pw", "location-tok", "user:"):
        assert secret not in message
    if status in (301, 302, 307):
        assert "(redirect not followed: Location http" in message and message.endswith(")")
    failures = api.get("/api/observability/failures?limit=100").get_json()["data"]
    assert message in [row["errorMessage"] for row in failures]
    # The log line carries the very message the history keeps.
    lines = [r.getMessage() for r in caplog.records if "attempt 1:" in r.getMessage()]
    assert any(line.endswith(f": {message} in {line.rsplit(' in ', 1)[1]}") for line in lines)


def test_escapes_are_visible_not_dropped(api: FlaskClient, raw_target: str) -> None:
    ansi = run_once(api, f"{raw_target}/ansi")["errorMessage"]
    assert ansi.startswith("HTTP 500 \\x1b[31mBad\\x1b[0m\\rjob 1 tick 2")
    latin = run_once(api, f"{raw_target}/latin")["errorMessage"]
    assert "Location http://elsewhere.example/\ufffd\ufffd/x?***)" in latin
    long = run_once(api, f"{raw_target}/long")["errorMessage"]
    assert long.startswith("HTTP 503 AAAA") and "more characters)" in long


def test_a_location_that_is_not_utf8_is_a_3xx_for_perform_itself(raw_target: str) -> None:
    """Without a scheduler: requests raised a UnicodeDecodeError preparing a redirect it was
    not asked to follow, and the 301 was recorded as an "unexpected error"."""
    from scheduler_service.delivery.attempt import AttemptRequest, perform
    from scheduler_service.delivery.session import new_session

    with new_session() as session:
        outcome = perform(AttemptRequest(url=f"{raw_target}/latin", method="GET", headers={},
                                         body=None, timeout_s=5, max_response_bytes=100,
                                         allow_private=True), session)  # fmt: skip
    assert (outcome.status_code, outcome.retryable) == (301, False)
    assert outcome.error_message is not None and "unexpected" not in outcome.error_message
