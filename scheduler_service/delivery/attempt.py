"""One HTTP attempt against a job's endpoint, bounded by a total deadline and a size cap.

The answer's body is read by :mod:`answer` under the attempt's deadline (each read's timeout
re-armed to the time left), and every socket the attempt sent on is shut down at its
deadline (:mod:`deadline_watch`): http.client's own reads (status line, headers, chunk size
lines, trailers) are cut there too. Past ``max_response_bytes`` reading stops and the
connection is closed, not drained.

Redirects are not followed unless asked. When asked, hops are followed here (at most
``MAX_REDIRECTS``) within the same deadline, only to http(s) URLs, and a hop to another
origin drops secret headers (``requests`` itself drops only ``Authorization``).

Credentials: the request carries the job's headers. ``requests`` would set
``Authorization: Basic`` from the URL's userinfo over an explicit ``Authorization`` header,
so the userinfo applies only when the headers hold no ``Authorization`` (:func:`_auth`).

Every request goes through the checked and pinned Session of :mod:`session` (SSRF
protection), built and sent by :mod:`sender` on this service's own Session (any other
Session, e.g. a test's, through its ``request``); what the attempt came to, and whether it
is retried, is :mod:`outcome`'s.

Made ready ahead (:func:`prepare`): a tick claimed before its time has its first request
built (body, headers, signature, :func:`sender.build`) while its worker waits, so
that at the due instant only sending is left: at light load twenty ticks due in the same
millisecond queue for the GIL, and each one's preparation delays the ones behind it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import requests
from urllib3 import BaseHTTPResponse
from urllib3.util import Timeout

from scheduler_service.delivery import answer, deadline_watch, sender, sends_due
from scheduler_service.delivery.masking import is_secret_header
from scheduler_service.delivery.outcome import (
    AttemptFailed,
    AttemptOutcome,
    FailureKind,
    connection_failed,
    dns_failed,
    timed_out,
    unexpected,
)
from scheduler_service.delivery.redaction import safe_message
from scheduler_service.delivery.sender import Outgoing
from scheduler_service.delivery.session import PinnedSession, private_targets
from scheduler_service.delivery.signing import Signing, signed
from scheduler_service.errors import TargetRefused

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class AttemptRequest:
    url: str
    method: str
    headers: Mapping[str, str]
    body: Any  # a JSON value; None sends no body
    timeout_s: float  # total: connect + send + the whole response
    max_response_bytes: int
    follow_redirects: bool = False
    allow_private: bool = False  # ALLOW_PRIVATE_TARGETS: loopback, private, reserved targets
    signing: Signing | None = None  # Standard Webhooks signature headers (``signing.py``)


@dataclass(frozen=True)
class Prepared:
    """The first request of an attempt, built ahead (:func:`prepare`) on one Session."""

    session: PinnedSession
    request: Outgoing
    first: tuple[str, dict[str, str], bytes | None]  # ``_first``: for a redirect's next hop


def prepare(request: AttemptRequest, session: Any) -> Prepared | None:
    """Build the first request as ``perform`` would send it; None if that fails (then
    ``perform`` builds it itself, and meets the failure as an outcome) or if ``session`` is
    not a :class:`PinnedSession`."""
    if not isinstance(session, PinnedSession):
        return None
    try:
        first = method, headers, data = _first(request)
        built = sender.build(session, method, request.url,
                             _signed(request, request.url, headers, data), data)  # fmt: skip
    except Exception:  # e.g. an invalid URL or header: reported when the attempt is made
        return None
    return Prepared(session, built, first)


def perform(request: AttemptRequest, session: Any,
            prepared: Prepared | None = None) -> AttemptOutcome:  # fmt: skip
    """Make one attempt (its first request ``prepared`` ahead, if it was on this Session).
    Never raises: every failure is an outcome."""
    started = time.monotonic() + sends_due.starts_in()  # made ready ahead: sent at its time
    if prepared is not None and prepared.session is not session:
        prepared = None
    deadline = started + request.timeout_s
    with private_targets(request.allow_private), deadline_watch.watching(deadline) as watch:
        try:
            outcome = _perform(request, session, deadline, prepared)
        except AttemptFailed as failed:
            outcome = failed.outcome()
        except Exception as exc:  # the runner must never see an exception from here
            outcome = unexpected(exc).outcome()
    if watch.fired and (outcome.success or outcome.status_code is None or outcome.status_code
                        < 300):  # cut at the deadline (whatever the cut looked like)
        outcome = replace(timed_out(request.timeout_s).outcome(),
                          status_code=outcome.status_code,
                          response_body=outcome.response_body, truncated=outcome.truncated)
    return replace(outcome, error_message=safe_message(outcome.error_message),
                   duration_ms=max(int((time.monotonic() - started) * 1000), 0))


def _first(request: AttemptRequest) -> tuple[str, dict[str, str], bytes | None]:
    """The first request's method, headers (unsigned) and body."""
    method, headers = request.method.upper(), dict(request.headers)
    data = None
    if request.body is not None:
        data = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return method, headers, data


def _perform(request: AttemptRequest, session: Any, deadline: float,
             prepared: Prepared | None) -> AttemptOutcome:  # fmt: skip
    url = request.url
    method, headers, data = _first(request) if prepared is None else prepared.first
    for hop in range(MAX_REDIRECTS + 1):
        try:
            if hop == 0 and prepared is not None:
                response = _send_prepared(session, request, prepared, deadline)
            else:
                response = _send(session, request, method, url,
                                 _signed(request, url, headers, data), data, deadline)
        except AttemptFailed as failed:
            if hop and failed.kind is FailureKind.TARGET_REFUSED:
                failed.message = f"redirect to {url}: {failed.message}"
            raise
        try:
            if not (request.follow_redirects and answer.is_redirect(response)):
                return answer.outcome(response, request.timeout_s, request.max_response_bytes,
                                      deadline)
            location = urljoin(url, answer.location(response) or "")
        finally:
            sender.close(response)
        if urlsplit(location).scheme not in ("http", "https"):
            raise AttemptFailed(FailureKind.INVALID_REQUEST,
                                f"redirect to a non-HTTP URL: {location}")
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, data = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if _origin(location) != _origin(url):  # Idempotency-Key names the tick: not a secret
            headers = {k: v for k, v in headers.items()
                       if k.lower() == "idempotency-key" or not is_secret_header(k)}
        url = location
    raise AttemptFailed(FailureKind.INVALID_REQUEST,
                        f"too many redirects (more than {MAX_REDIRECTS})")


def _signed(request: AttemptRequest, url: str, headers: dict[str, str],
            data: bytes | None) -> dict[str, str]:
    """The hop's headers, signed over the body it sends when signing is on and the hop
    stays on the endpoint's origin (another origin gets no signature, as no secret)."""
    if request.signing is None or _origin(url) != _origin(request.url):
        return headers
    return signed(headers, request.signing, data)


def _send(session: Any, request: AttemptRequest, method: str, url: str,
          headers: dict[str, str], data: bytes | None, deadline: float) -> BaseHTTPResponse:
    """Send one hop: built by :mod:`sender` on a PinnedSession; through ``session.request``
    on any other Session (its ``raw`` answer, read as the sender's)."""
    with _sending(request, url):
        if isinstance(session, PinnedSession):
            built = sender.build(session, method, url, headers, data)
            return sender.send(session, built, _timeout(request, deadline))
        response = session.request(method, url, headers=headers, data=data,
                                   timeout=_timeout(request, deadline), stream=True,
                                   allow_redirects=False, auth=_auth(headers))  # fmt: skip
        return cast(BaseHTTPResponse, response.raw)


def _send_prepared(session: PinnedSession, request: AttemptRequest, prepared: Prepared,
                   deadline: float) -> BaseHTTPResponse:  # fmt: skip
    with _sending(request, request.url):
        return sender.send(session, prepared.request, _timeout(request, deadline))


def _timeout(request: AttemptRequest, deadline: float) -> Timeout:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise timed_out(request.timeout_s)
    # total= makes urllib3 give the response's first read only what the connect left over.
    return Timeout(connect=remaining, read=remaining, total=remaining)


@contextmanager
def _sending(request: AttemptRequest, url: str) -> Iterator[None]:
    """What sending one request can raise, as the attempt's failure."""
    try:
        yield
    except TargetRefused as refused:
        raise AttemptFailed(FailureKind.TARGET_REFUSED, refused.message) from None
    except socket.gaierror:  # raised by PinnedAdapter's resolution, before any connection
        raise dns_failed(url) from None
    except requests.exceptions.Timeout:
        raise timed_out(request.timeout_s) from None
    except requests.exceptions.InvalidHeader:  # its text quotes the value, which may be secret
        raise AttemptFailed(FailureKind.INVALID_REQUEST, "invalid header: a name or value has "
                            "forbidden characters") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema, requests.exceptions.URLRequired) as exc:
        raise AttemptFailed(FailureKind.INVALID_REQUEST, f"invalid URL: {exc}") from None
    except requests.exceptions.ConnectionError as exc:
        raise connection_failed(exc, url) from None


def _keep_headers(prepared: requests.PreparedRequest) -> requests.PreparedRequest:
    return prepared


def _auth(headers: Mapping[str, str]) -> Any:
    """None (``requests`` then uses the URL's userinfo, if any) unless the headers set
    ``Authorization``: then an auth that changes nothing, so the job's own header wins."""
    if any(name.lower() == "authorization" for name in headers):
        return _keep_headers
    return None


def _origin(url: str) -> tuple[str, str | None, int]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
