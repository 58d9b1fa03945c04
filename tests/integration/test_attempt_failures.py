"""One HTTP attempt that gets no answer (127.0.0.1 only): a refused connection, a peer
that closes, DNS, TLS, an invalid URL or header, an unexpected error; each says why in a
message free of secrets, and whether a retry may help (``is_retryable``)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
import requests

from scheduler_service.delivery.outcome import FailureKind, is_retryable
from tests.support.attempts import attempt
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port


def test_connection_refused(session: requests.Session) -> None:
    outcome = attempt(session, f"http://127.0.0.1:{free_port()}/x")  # nothing listens there
    assert (outcome.error_message, outcome.retryable, outcome.status_code) == (
        "connection refused", True, None)


def test_a_peer_that_closes_without_answering(session: requests.Session) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def accept_and_close() -> None:
            connection, _ = server.accept()
            connection.recv(65536)
            connection.close()

        thread = threading.Thread(target=accept_and_close, daemon=True)
        thread.start()
        outcome = attempt(session, f"http://127.0.0.1:{server.getsockname()[1]}/x")
        thread.join(timeout=5)
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("connection error: ")
    assert outcome.retryable


def test_dns_failure(session: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in resolver answers for .invalid, so no query leaves the machine.
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    outcome = attempt(session, "http://x.invalid/hook")
    assert outcome.error_message == "DNS resolution failed for host 'x.invalid'"
    assert outcome.retryable


def test_tls_error(target: HttpTarget, session: requests.Session) -> None:
    outcome = attempt(session, target.url("/tls").replace("http://", "https://"))
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("TLS error: ")
    assert outcome.retryable


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://"])
def test_invalid_url(session: requests.Session, url: str) -> None:
    outcome = attempt(session, url)
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("invalid URL: ")
    assert not outcome.retryable


def test_header_values_never_appear_in_messages(target: HttpTarget,
                                                session: requests.Session) -> None:
    outcome = attempt(session, target.url("/h"), headers={"X-Token": "s3cret\r\nInjected: 1"})
    assert outcome.error_message is not None and "s3cret" not in outcome.error_message
    assert not outcome.retryable
    assert target.requests_for("/h") == []


def test_unexpected_exceptions_become_failures() -> None:
    class Broken(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret detail")

    with Broken() as broken:
        outcome = attempt(broken, "http://127.0.0.1:9/x")
    assert (outcome.success, outcome.retryable) == (False, False)
    assert outcome.error_message == "unexpected error: RuntimeError"


def test_a_body_that_is_not_json_is_an_unexpected_failure(session: requests.Session) -> None:
    outcome = attempt(session, "http://127.0.0.1:9/x", body={"a": object()})
    assert outcome.error_message == "unexpected error: TypeError"


@pytest.mark.parametrize(("kind", "status", "expected"), [
    (FailureKind.TIMEOUT, None, True),
    (FailureKind.CONNECTION, None, True),
    (FailureKind.HTTP_STATUS, 502, True),
    (FailureKind.HTTP_STATUS, 408, True),
    (FailureKind.HTTP_STATUS, 429, True),
    (FailureKind.HTTP_STATUS, 403, False),
    (FailureKind.HTTP_STATUS, 301, False),
    (FailureKind.INVALID_REQUEST, None, False),
    (FailureKind.UNEXPECTED, None, False),
])
def test_is_retryable(kind: FailureKind, status: int | None, expected: bool) -> None:
    assert is_retryable(kind, status) is expected
