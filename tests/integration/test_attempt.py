"""One HTTP attempt against a real local target (everything stays on 127.0.0.1): what is
sent, what the outcome holds, the deadline and the response cap, the session, and a request
made ready ahead. Redirects: test_attempt_redirects.py; failures before an answer:
test_attempt_failures.py."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime

import pytest
import requests

from scheduler_service.delivery.attempt import AttemptRequest, perform, prepare
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.payload import idempotency_key, outgoing_headers
from scheduler_service.delivery.session import USER_AGENT, new_session, thread_session
from scheduler_service.delivery.signing import Signing
from tests.support.attempts import attempt
from tests.support.http_target import HttpTarget

TICK = datetime(2024, 1, 1, 12, 5, tzinfo=UTC)


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
