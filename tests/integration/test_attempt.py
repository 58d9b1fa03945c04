"""One HTTP attempt against a real local target (everything stays on 127.0.0.1)."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from scheduler_service.delivery.attempt import AttemptRequest, perform, prepare
from scheduler_service.delivery.outcome import AttemptOutcome, FailureKind, is_retryable
from scheduler_service.delivery.payload import idempotency_key, outgoing_headers
from scheduler_service.delivery.session import USER_AGENT, new_session, thread_session
from scheduler_service.delivery.signing import Signing
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port

TICK = datetime(2024, 1, 1, 12, 5, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with new_session() as created:
        yield created


def attempt(session: requests.Session, url: str, **overrides: Any) -> AttemptOutcome:
    fields: dict[str, Any] = {"url": url, "method": "POST", "headers": {}, "body": None,
                              "timeout_s": 5.0, "max_response_bytes": 4096,
                              "allow_private": True, **overrides}  # targets are on 127.0.0.1
    return perform(AttemptRequest(**fields), session)


def test_2xx_is_a_success_with_the_body_captured(target: HttpTarget,
                                                 session: requests.Session) -> None:
    target.respond("/ok", status=201, body="créé")
    outcome = attempt(session, target.url("/ok"))
    assert outcome == AttemptOutcome(success=True, status_code=201, response_body="créé",
                                     truncated=False, error_message=None, retryable=False,
                                     duration_ms=outcome.duration_ms)
    assert 0 <= outcome.duration_ms < 5000


@pytest.mark.parametrize(("status", "message", "retryable"), [
    (500, "HTTP 500 Internal Server Error", True),
    (503, "HTTP 503 Service Unavailable", True),
    (408, "HTTP 408 Request Timeout", True),
    (429, "HTTP 429 Too Many Requests", True),
    (404, "HTTP 404 Not Found", False),
    (400, "HTTP 400 Bad Request", False),
])
def test_non_2xx_is_a_failure_classified_for_retry(
    target: HttpTarget, session: requests.Session, status: int, message: str, retryable: bool
) -> None:
    target.respond("/status", status=status, body="details")
    outcome = attempt(session, target.url("/status"))
    assert (outcome.success, outcome.status_code, outcome.error_message, outcome.retryable) == (
        False, status, message, retryable)
    assert outcome.response_body == "details"


def test_method_headers_and_json_body_arrive_as_sent(target: HttpTarget,
                                                     session: requests.Session) -> None:
    headers = outgoing_headers({"X-Custom": "yes", "Authorization": "Bearer s3cret"},
                               job_id="job1", scheduled_at=TICK, attempt=2)
    body = {"event": "tick", "list": [1, "é"], "none": None}
    assert attempt(session, target.url("/in"), method="put", headers=headers, body=body).success
    [received] = target.requests_for("/in")
    assert received.method == "PUT"
    assert received.json() == body
    assert received.body == '{"event":"tick","list":[1,"é"],"none":null}'.encode()
    assert received.header("content-type") == "application/json"
    assert received.header("X-Custom") == "yes"
    assert received.header("Authorization") == "Bearer s3cret"
    assert received.header("Idempotency-Key") == idempotency_key("job1", TICK)
    assert received.header("X-Scheduler-Attempt") == "2"
    assert received.header("User-Agent") == USER_AGENT


def test_a_content_type_set_by_the_job_is_kept(target: HttpTarget,
                                               session: requests.Session) -> None:
    headers = {"content-type": "application/vnd.api+json"}
    assert attempt(session, target.url("/ct"), headers=headers, body=[1]).success
    [received] = target.requests_for("/ct")
    assert received.header("Content-Type") == "application/vnd.api+json"
    assert received.body == b"[1]"


def test_get_with_no_body_sends_no_body(target: HttpTarget, session: requests.Session) -> None:
    assert attempt(session, target.url("/get"), method="GET").success
    [received] = target.requests_for("/get")
    assert (received.method, received.body) == ("GET", b"")
    assert received.header("Content-Length") is None
    assert received.header("Content-Type") is None


def test_a_hanging_target_is_cut_at_the_deadline(target: HttpTarget,
                                                 session: requests.Session) -> None:
    target.hang("/hang", 10)
    outcome = attempt(session, target.url("/hang"), timeout_s=1.0)
    assert not outcome.success and outcome.retryable
    assert outcome.error_message == "timeout: no complete response within 1000 ms"
    assert 1000 <= outcome.duration_ms < 2500
    assert outcome.status_code is None


def test_a_dripping_target_is_cut_at_the_total_deadline(target: HttpTarget,
                                                        session: requests.Session) -> None:
    # Each byte arrives well within any read timeout; only the total deadline stops it.
    target.drip("/drip", total_bytes=100, interval_s=0.1)
    outcome = attempt(session, target.url("/drip"), timeout_s=1.0)
    assert not outcome.success and outcome.retryable
    assert outcome.error_message == "timeout: no complete response within 1000 ms"
    assert 1000 <= outcome.duration_ms < 2500
    assert outcome.status_code == 200
    assert outcome.response_body and set(outcome.response_body) == {"."}


def test_a_large_body_is_truncated_at_the_cap(target: HttpTarget,
                                              session: requests.Session) -> None:
    target.large("/large", 5_000_000)
    outcome = attempt(session, target.url("/large"), max_response_bytes=1000)
    assert outcome.success
    assert (outcome.response_body, outcome.truncated) == ("x" * 1000, True)


def test_a_body_of_exactly_the_cap_is_not_truncated(target: HttpTarget,
                                                    session: requests.Session) -> None:
    target.large("/exact", 1000)
    outcome = attempt(session, target.url("/exact"), max_response_bytes=1000)
    assert (outcome.response_body, outcome.truncated) == ("x" * 1000, False)


def test_a_redirect_is_not_followed_by_default(target: HttpTarget,
                                               session: requests.Session) -> None:
    target.redirect("/old", target.url("/new"))
    outcome = attempt(session, target.url("/old"))
    assert not outcome.success and not outcome.retryable
    assert outcome.status_code == 302
    assert outcome.error_message == (
        f"HTTP 302 Found (redirect not followed: Location {target.url('/new')})")
    assert target.requests_for("/new") == []


def test_a_redirect_is_followed_when_asked(target: HttpTarget,
                                           session: requests.Session) -> None:
    target.redirect("/old", "/new", status=307)
    headers = {"X-Api-Key": "k", "Idempotency-Key": "i"}
    outcome = attempt(session, target.url("/old"), follow_redirects=True, headers=headers,
                      body={"a": 1})
    assert (outcome.success, outcome.status_code) == (True, 200)
    [received] = target.requests_for("/new")
    assert (received.method, received.json()) == ("POST", {"a": 1})
    assert received.header("X-Api-Key") == "k"  # same origin: headers kept


def test_a_cross_origin_redirect_drops_secret_headers(target: HttpTarget,
                                                      session: requests.Session) -> None:
    with HttpTarget() as other:
        target.redirect("/old", other.url("/new"), status=303)
        headers = {"X-Api-Key": "k", "Authorization": "a", "Idempotency-Key": "i", "X-Ok": "y",
                   "Accept": "text/plain"}  # fmt: skip
        outcome = attempt(session, target.url("/old"), follow_redirects=True, headers=headers,
                          body={"a": 1})
        assert outcome.success
        [received] = other.requests_for("/new")
    assert (received.method, received.body) == ("GET", b"")  # 303: see other, with GET
    assert received.header("X-Api-Key") is None and received.header("Authorization") is None
    # Secret unless known to be harmless (issue 18): a header like X-Ok is dropped too.
    assert received.header("X-Ok") is None
    assert (received.header("Idempotency-Key"), received.header("Accept")) == ("i", "text/plain")


def test_a_redirect_loop_stops(target: HttpTarget, session: requests.Session) -> None:
    target.redirect("/loop", "/loop")
    outcome = attempt(session, target.url("/loop"), follow_redirects=True)
    assert outcome.error_message == "too many redirects (more than 5)"
    assert not outcome.retryable
    assert len(target.requests_for("/loop")) == 6


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


def test_thread_session_is_one_per_thread() -> None:
    mine = thread_session()
    assert thread_session() is mine
    assert mine.trust_env is False
    assert mine.headers["User-Agent"] == USER_AGENT
    others: list[requests.Session] = []
    thread = threading.Thread(target=lambda: others.append(thread_session()))
    thread.start()
    thread.join()
    assert others[0] is not mine


def test_cookies_set_by_one_target_are_not_sent_again(target: HttpTarget,
                                                      session: requests.Session) -> None:
    target.respond("/login", headers={"Set-Cookie": "sid=abc; Path=/"})
    assert attempt(session, target.url("/login")).success
    assert attempt(session, target.url("/next")).success
    [received] = target.requests_for("/next")
    assert received.header("Cookie") is None


def test_a_request_made_ready_ahead_arrives_as_one_built_when_sent(
    target: HttpTarget, session: requests.Session
) -> None:
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    request = AttemptRequest(
        url=target.url("/ready?x=1"), method="patch",
        headers=outgoing_headers({"X-Custom": "yes", "Authorization": "Bearer t"},
                                 job_id="job1", scheduled_at=TICK, attempt=1),
        body={"at": "é"}, timeout_s=5.0, max_response_bytes=4096, allow_private=True,
        signing=Signing((secret,), "key-1", TICK))  # fmt: skip
    ready = prepare(request, session)
    assert ready is not None
    assert perform(request, session, ready).success
    assert perform(request, session).success
    first, second = target.requests_for("/ready")
    assert (first.method, first.path, first.body) == (second.method, second.path, second.body)
    assert first.headers == second.headers
    assert first.header("webhook-signature") is not None
    assert first.header("Authorization") == "Bearer t"


def test_a_request_made_ready_on_another_session_is_built_again(
    target: HttpTarget, session: requests.Session
) -> None:
    request = AttemptRequest(url=target.url("/other"), method="POST", headers={}, body=None,
                             timeout_s=5.0, max_response_bytes=4096, allow_private=True)
    with new_session() as other:
        ready = prepare(request, other)
        ready.request.url = target.url("/not-this-one")  # type: ignore[union-attr]
        assert perform(request, session, ready).success
    assert [r.path for r in target.requests] == ["/other"]


def test_nothing_is_made_ready_for_a_request_that_cannot_be_built(
    session: requests.Session
) -> None:
    request = AttemptRequest(url="http://", method="POST", headers={}, body=None,
                             timeout_s=5.0, max_response_bytes=4096, allow_private=True)
    assert prepare(request, session) is None
    outcome = perform(request, session, None)  # and the attempt reports why, as always
    assert outcome.error_message is not None and outcome.error_message.startswith("invalid URL")
