"""What one attempt came to: the outcome record, the kinds of failure and which are retried.

Retry classification (:func:`is_retryable`): retry on connection errors (refused, reset,
DNS, TLS), timeouts, HTTP 5xx, 408, 425 (Too Early) and 429; never on other 4xx, on 3xx,
on an invalid URL or header, on a refused target, on too many redirects, or on an
unexpected exception (a bug retried is the same bug).

Failure messages go into the execution record, so they never quote a header value; every
message is redacted, escaped and capped once (:func:`delivery.redaction.safe_message`)
before it is stored or logged.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from scheduler_service.delivery.redaction import cap_text
from scheduler_service.errors import SchedulerError


class FailureKind(Enum):
    HTTP_STATUS = "http_status"
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset, DNS, TLS
    INVALID_REQUEST = "invalid_request"  # bad URL or header, too many redirects
    TARGET_REFUSED = "target_refused"  # SSRF policy: never sent
    UNEXPECTED = "unexpected"


def is_retryable(kind: FailureKind, status_code: int | None = None) -> bool:
    if kind in (FailureKind.TIMEOUT, FailureKind.CONNECTION):
        return True
    if kind is FailureKind.HTTP_STATUS and status_code is not None:
        return status_code >= 500 or status_code in (408, 425, 429)
    return False


@dataclass(frozen=True)
class AttemptOutcome:
    success: bool
    status_code: int | None
    response_body: str | None
    truncated: bool
    error_message: str | None
    retryable: bool
    duration_ms: int
    retry_after_ms: int | None = None  # a 429's or 503's Retry-After, as a delay


class AttemptFailed(SchedulerError):
    """Why an attempt got no usable response; raised and caught inside :mod:`attempt`."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def outcome(self) -> AttemptOutcome:
        retryable = is_retryable(self.kind)
        return AttemptOutcome(False, None, None, False, self.message, retryable, duration_ms=0)


# The target's own words in a message: its reason phrase and its Location, each capped
# before they are put together (so a long reason cannot push the Location out).
MAX_REASON_LENGTH = 200
MAX_LOCATION_LENGTH = 600


def http_status_outcome(status: int, reason: str | None, location: str | None, body: str,
                        truncated: bool, retry_after_ms: int | None = None) -> AttemptOutcome:
    """A complete response outside 2xx (``retry_after_ms``: its ``Retry-After``)."""
    message = f"HTTP {status} {cap_text(reason or '', MAX_REASON_LENGTH)}".rstrip()
    if 300 <= status < 400 and location:
        message += f" (redirect not followed: Location {cap_text(location, MAX_LOCATION_LENGTH)})"
    return AttemptOutcome(False, status, body, truncated, message,
                          is_retryable(FailureKind.HTTP_STATUS, status), 0, retry_after_ms)


def timed_out(timeout_s: float) -> AttemptFailed:
    limit_ms = round(timeout_s * 1000)
    return AttemptFailed(FailureKind.TIMEOUT, f"timeout: no complete response within {limit_ms} ms")


def unexpected(exc: Exception) -> AttemptFailed:
    """A bug; not ``str(exc)``, which may quote a secret."""
    return AttemptFailed(FailureKind.UNEXPECTED, f"unexpected error: {type(exc).__name__}")


def connection_failed(exc: BaseException, url: str) -> AttemptFailed:
    """A ``requests`` connection error, named by what lies underneath it."""
    chain = list(_causes(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        message = "connection refused"
    elif any(isinstance(e, socket.gaierror | NameResolutionError) for e in chain):
        message = dns_failed(url).message
    elif isinstance(exc, requests.exceptions.SSLError) or any(
        isinstance(e, ssl.SSLError) for e in chain
    ):
        message = f"TLS error: {deepest(exc)}"
    else:
        message = f"connection error: {deepest(exc)}"
    return AttemptFailed(FailureKind.CONNECTION, message)


def dns_failed(url: str) -> AttemptFailed:
    return AttemptFailed(FailureKind.CONNECTION,
                         f"DNS resolution failed for host {urlsplit(url).hostname!r}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (urllib3 nests them in args, reason and causes)."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([*current.args, getattr(current, "reason", None), current.__cause__,
                        current.__context__])


def deepest(exc: BaseException) -> str:
    """The text of the innermost wrapped exception (or its class name if it has none)."""
    last = list(_causes(exc))[-1]
    return str(last) or type(last).__name__
