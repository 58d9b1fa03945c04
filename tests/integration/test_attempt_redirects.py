"""Redirects of one HTTP attempt against a real local target (127.0.0.1): not followed
unless the job asks, then with its method and body as the status says, secret headers
dropped across origins, and a loop stopped."""

from __future__ import annotations

import requests

from tests.support.attempts import attempt
from tests.support.http_target import HttpTarget


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
