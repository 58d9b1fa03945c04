"""The lean sender (``delivery/sender.py``) sends what ``requests`` would, and fails as it would.

The oracle is ``requests`` itself: the same request sent through the same PinnedSession's
``request`` (checked and pinned by the same adapter), as attempts were sent before the sender.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
import requests
from urllib3 import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from scheduler_service.delivery import sender
from scheduler_service.delivery.attempt import AttemptRequest, _auth, _first, perform
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.redaction import safe_message
from scheduler_service.delivery.session import PinnedSession, new_session, private_targets
from tests.support.http_target import HttpTarget, ReceivedRequest


@pytest.fixture
def session() -> Iterator[PinnedSession]:
    with new_session() as created:
        yield created


def request_for(url: str, **overrides: Any) -> AttemptRequest:
    fields: dict[str, Any] = {"url": url, "method": "POST", "headers": {}, "body": None,
                              "timeout_s": 5.0, "max_response_bytes": 4096,
                              "allow_private": True, **overrides}  # fmt: skip
    return AttemptRequest(**fields)


def via_requests(session: PinnedSession, request: AttemptRequest) -> None:
    """The request as ``Session.request`` sends it (the attempt's path before the sender)."""
    method, headers, data = _first(request)
    with private_targets(True):
        response = session.request(method, request.url, headers=headers, data=data, timeout=5,
                                   stream=True, allow_redirects=False, auth=_auth(headers))
        response.close()


def as_sent(received: ReceivedRequest) -> tuple[Any, ...]:
    return (received.method, received.path, received.query, list(received.headers.items()),
            received.body)


CASES: list[tuple[str, dict[str, Any]]] = [
    ("/json?x=1&y=%20z", {"headers": {"X-Custom": "yes", "Authorization": "Bearer t"},
                          "body": {"a": "é", "n": None}}),
    ("/get", {"method": "GET"}),
    ("/post-no-body", {}),
    ("/replaced", {"method": "put", "body": [1], "headers": {
        "content-type": "application/vnd.api+json", "ACCEPT": "text/plain",
        "user-agent": "mine", "Connection": "close"}}),
    ("/pâth/ü?q=é ü&r=%zz", {"method": "DELETE"}),
    ("USERINFO/basic", {"method": "GET", "headers": {"X-Other": "1"}}),
    ("USERINFO/own-auth", {"method": "PATCH", "headers": {"authorization": "Token t"},
                           "body": "text"}),
    ("/cookie", {"headers": {"Cookie": "mine=1"}}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "overrides"), CASES)
def test_the_sender_sends_what_requests_would(target: HttpTarget, session: PinnedSession,
                                              path: str, overrides: dict[str, Any]) -> None:
    base = target.url("")
    if path.startswith("USERINFO"):
        base = base.replace("http://", "http://user:p%40ss@")
        path = path.removeprefix("USERINFO")
    request = request_for(base + path, **overrides)
    assert perform(request, session).status_code == 200
    via_requests(session, request)
    lean, oracle = target.requests
    assert as_sent(lean) == as_sent(oracle)


@pytest.mark.parametrize("url", ["http://", "ftp://127.0.0.1/x", "not a url",
                                 "http://127.0.0.1:99999/x", "http://[::1/x"])
def test_a_url_is_refused_as_requests_refuses_it(session: PinnedSession, url: str) -> None:
    lean = perform(request_for(url), session)
    with pytest.raises(requests.RequestException) as refused:
        via_requests(session, request_for(url))
    assert lean.error_message == safe_message(f"invalid URL: {refused.value}")
    assert not lean.retryable


@pytest.mark.parametrize(("raised", "message"), [
    (MaxRetryError(None, "/x", ConnectTimeoutError(None, "connect timed out")),  # type: ignore[arg-type]
     "timeout: no complete response within 5000 ms"),
    (ReadTimeoutError(None, "/x", "read timed out"),  # type: ignore[arg-type]
     "timeout: no complete response within 5000 ms"),
    (MaxRetryError(None, "/x", SSLError(OSError("bad certificate"))),  # type: ignore[arg-type]
     "TLS error: bad certificate"),
    (MaxRetryError(None, "/x", NewConnectionError(None, "refused")),  # type: ignore[arg-type]
     "connection error: None: refused"),
    (ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
     "connection error: [Errno 104] reset"),
    (TimeoutError("timed out"), "connection error: timed out"),
])  # fmt: skip
def test_urllib3_errors_are_classified_as_requests_classified_them(
    session: PinnedSession, monkeypatch: pytest.MonkeyPatch, raised: Exception, message: str
) -> None:
    def urlopen(*args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(HTTPConnectionPool, "urlopen", urlopen)
    lean = perform(request_for("http://127.0.0.1:9/x"), session)
    with requests.Session() as plain:  # through Session.request and HTTPAdapter.send
        oracle = perform(request_for("http://127.0.0.1:9/x"), plain)
    assert (lean.error_message, lean.retryable, lean.status_code) == (message, True, None)
    assert replace(lean, duration_ms=0) == replace(oracle, duration_ms=0)


def test_refused_connections_are_not_timeouts(session: PinnedSession) -> None:
    with socket.socket() as unused:  # bound, never listening: the connection is refused
        unused.bind(("127.0.0.1", 0))
        outcome = perform(request_for(f"http://127.0.0.1:{unused.getsockname()[1]}/"), session)
    assert (outcome.error_message, outcome.retryable) == ("connection refused", True)


def test_another_session_is_sent_through_its_own_request(target: HttpTarget) -> None:
    with requests.Session() as plain:
        outcome = perform(request_for(target.url("/plain"), method="GET"), plain)
    assert outcome == AttemptOutcome(True, 200, "ok", False, None, False, outcome.duration_ms)
    [received] = target.requests_for("/plain")
    assert received.header("User-Agent") == requests.utils.default_user_agent()


def test_a_session_keeps_the_targets_of_its_latest_urls_only(
    session: PinnedSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "TARGETS_KEPT", 3)
    first = sender.target(session, "http://127.0.0.1:9/0")
    assert sender.target(session, "http://127.0.0.1:9/0") is first  # kept
    for n in range(1, 4):
        sender.target(session, f"http://127.0.0.1:9/{n}")
    assert list(session.targets) == [f"http://127.0.0.1:9/{n}" for n in (1, 2, 3)]
    assert sender.target(session, "http://127.0.0.1:9/0") is not first  # made again


# A 3xx with a Location: requests' Session.send read its whole body (to prepare the redirect
# it was told not to follow) before the attempt could, unbounded, and left it empty.


def test_a_redirects_body_is_kept_as_any_answers(target: HttpTarget,
                                                 session: PinnedSession) -> None:
    target.respond("/moved", status=302, body="moved here", headers={"Location": "/new"})
    outcome = perform(request_for(target.url("/moved"), method="GET"), session)
    assert (outcome.status_code, outcome.response_body) == (302, "moved here")
    assert outcome.error_message == "HTTP 302 Found (redirect not followed: Location /new)"


def _answer_drip(connection: socket.socket, stopping: threading.Event,
                 hung_up: threading.Event) -> None:  # fmt: skip
    """``dripping_redirect``'s answer on one connection."""
    with connection:
        head = b""
        while b"\r\n\r\n" not in head and not stopping.is_set():
            head += connection.recv(65536) or b"\r\n\r\n"
        if head.startswith(b"GET /done "):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
            return
        try:
            connection.sendall(b"HTTP/1.1 302 Found\r\nLocation: /done\r\n"
                               b"Content-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if stopping.wait(0.05):
                    return
                connection.sendall(b".")
        except OSError:  # BrokenPipe or ConnectionReset: the client closed it
            hung_up.set()


@contextmanager
def dripping_redirect() -> Iterator[tuple[str, threading.Event]]:
    """A raw server whose ``/drip`` answers a 302 to ``/done`` and then drips its declared
    1,000-byte body, one byte every 50 ms; ``/done`` answers 200 ``done``. Yields its URL and
    an event set once the client hung up on a drip (a write to it failed: the client closed
    it, which is how the attempt ends it). Its threads are joined on the way out."""
    stopping, hung_up = threading.Event(), threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    answering: list[threading.Thread] = []

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            answering.append(threading.Thread(target=_answer_drip, daemon=True,
                                              args=(connection, stopping, hung_up)))
            answering[-1].start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", hung_up
    finally:
        stopping.set()
        thread.join(timeout=5)
        for answering_thread in answering:
            answering_thread.join(timeout=5)
        server.close()


@pytest.mark.parametrize("follow", [False, True])
def test_a_redirect_that_drips_its_body_is_cut_at_the_deadline(session: PinnedSession,
                                                               follow: bool) -> None:
    with dripping_redirect() as (base, hung_up):
        outcome = perform(request_for(f"{base}/drip", method="GET", follow_redirects=follow,
                                      timeout_s=5.0 if follow else 1.0), session)  # fmt: skip
        # The drip's connection is closed, not left to drip (its target's next writes fail).
        assert hung_up.wait(5), "the client did not hang up on the dripping 302"
    if follow:  # the 302's body (50 s of it) is not read: its connection is closed
        assert (outcome.success, outcome.response_body) == (True, "done")
    else:  # read until the deadline, as any answer's
        assert outcome.status_code == 302
        assert outcome.response_body and set(outcome.response_body) == {"."}
        assert 1000 <= outcome.duration_ms < 2500
