"""One HTTP attempt against a job's endpoint, bounded by a total deadline and a size cap.

``requests``' ``timeout`` bounds each socket read, not the whole response, so the body is
streamed with ``read1`` and the socket's timeout is re-armed to the time left before each
read: a target that drips one byte at a time is cut at the deadline. Known gap: a target
that drips its *status line or headers* is bounded only per read while ``requests`` parses
them. Past ``max_response_bytes`` reading stops and the connection is closed, not drained.

Redirects are not followed unless asked. When asked, hops are followed here (at most
``MAX_REDIRECTS``) within the same deadline, only to http(s) URLs, and a hop to another
origin drops secret headers (``requests`` itself drops only ``Authorization``).

SSRF protection (:mod:`target_guard`): the session's :class:`PinnedAdapter` resolves the
host of every request it sends (each redirect hop too), refuses it unless every address is
allowed, and connects to the first checked address itself: the pool is keyed on that IP, the
``Host`` header and TLS (SNI and certificate check, via urllib3's ``server_hostname``) keep
the name. urllib3 never resolves the name again, so DNS rebinding cannot swap the address
between check and connect. The policy (``allow_private``) reaches the adapter from
:func:`perform` through a context variable; outside ``perform`` private targets are refused.

Retry classification (:func:`is_retryable`): retry on connection errors (refused, reset,
DNS, TLS), timeouts, HTTP 5xx, 408 and 429; never on other 4xx, on 3xx, on an invalid URL or
header, on a refused target, on too many redirects, or on an unexpected exception (a bug
retried is the same bug).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import Enum
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NameResolutionError, ReadTimeoutError
from urllib3.util import Timeout
from urllib3.util import connection as urllib3_connection

from scheduler_service.delivery.masking import is_secret_header
from scheduler_service.delivery.target_guard import TargetRefused, checked_addresses

USER_AGENT = "scheduler-service/0.1"
MAX_REDIRECTS = 5
_CHUNK = 65536


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
        return status_code >= 500 or status_code in (408, 429)
    return False


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


@dataclass(frozen=True)
class AttemptOutcome:
    success: bool
    status_code: int | None
    response_body: str | None
    truncated: bool
    error_message: str | None
    retryable: bool
    duration_ms: int


class _Failed(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def perform(request: AttemptRequest, session: requests.Session) -> AttemptOutcome:
    """Make one attempt. Never raises: every failure is an outcome."""
    started = time.monotonic()
    policy = _allow_private.set(request.allow_private)
    try:
        outcome = _perform(request, session, started + request.timeout_s)
    except _Failed as failed:
        outcome = _failure(failed)
    except Exception as exc:  # the runner must never see an exception from here
        message = f"unexpected error: {type(exc).__name__}"  # not str(exc): it may quote secrets
        outcome = _failure(_Failed(FailureKind.UNEXPECTED, message))
    finally:
        _allow_private.reset(policy)
    return replace(outcome, duration_ms=int((time.monotonic() - started) * 1000))


def _perform(request: AttemptRequest, session: requests.Session, deadline: float) -> AttemptOutcome:
    url, method, headers = request.url, request.method.upper(), dict(request.headers)
    data = None
    if request.body is not None:
        data = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    for hop in range(MAX_REDIRECTS + 1):
        try:
            response = _send(session, request, method, url, headers, data, deadline)
        except _Failed as failed:
            if hop and failed.kind is FailureKind.TARGET_REFUSED:
                failed.message = f"redirect to {url}: {failed.message}"
            raise
        try:
            if not (request.follow_redirects and response.is_redirect):
                return _outcome(response, request, deadline)
            location = urljoin(url, session.get_redirect_target(response) or "")
        finally:
            response.close()
        if urlsplit(location).scheme not in ("http", "https"):
            raise _Failed(FailureKind.INVALID_REQUEST, f"redirect to a non-HTTP URL: {location}")
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method, data = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if _origin(location) != _origin(url):  # Idempotency-Key names the tick: not a secret
            headers = {k: v for k, v in headers.items()
                       if k.lower() == "idempotency-key" or not is_secret_header(k)}
        url = location
    raise _Failed(FailureKind.INVALID_REQUEST, f"too many redirects (more than {MAX_REDIRECTS})")


def _send(session: requests.Session, request: AttemptRequest, method: str, url: str,
          headers: dict[str, str], data: bytes | None, deadline: float) -> requests.Response:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timed_out(request)
    # total= makes urllib3 give the response's first read only what the connect left over.
    timeout = Timeout(connect=remaining, read=remaining, total=remaining)
    try:
        return session.request(method, url, headers=headers, data=data, timeout=timeout,
                               stream=True, allow_redirects=False)
    except TargetRefused as refused:
        raise _Failed(FailureKind.TARGET_REFUSED, refused.message) from None
    except socket.gaierror:  # raised by PinnedAdapter's resolution, before any connection
        raise _Failed(FailureKind.CONNECTION,
                      f"DNS resolution failed for host {urlsplit(url).hostname!r}") from None
    except requests.exceptions.Timeout:
        raise _timed_out(request) from None
    except requests.exceptions.InvalidHeader:  # its text quotes the value, which may be secret
        raise _Failed(FailureKind.INVALID_REQUEST, "invalid header: a name or value has "
                      "forbidden characters") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema, requests.exceptions.URLRequired) as exc:
        raise _Failed(FailureKind.INVALID_REQUEST, f"invalid URL: {exc}") from None
    except requests.exceptions.ConnectionError as exc:
        raise _Failed(FailureKind.CONNECTION, _connection_message(exc, url)) from None


def _outcome(response: requests.Response, request: AttemptRequest,
             deadline: float) -> AttemptOutcome:
    status = response.status_code
    body, truncated, read_failure = _read_capped(response, request, deadline)
    text = body.decode("utf-8", errors="replace")
    if 200 <= status < 300 and read_failure is None:
        return AttemptOutcome(True, status, text, truncated, None, False, 0)
    if 200 <= status < 300:
        assert read_failure is not None
        return replace(_failure(read_failure), status_code=status, response_body=text,
                       truncated=truncated)
    message = f"HTTP {status} {response.reason or ''}".rstrip()
    if 300 <= status < 400:
        location = response.headers.get("Location")
        message += f" (redirect not followed: Location {location})" if location else ""
    return AttemptOutcome(False, status, text, truncated, message,
                          is_retryable(FailureKind.HTTP_STATUS, status), 0)


def _read_capped(response: requests.Response, request: AttemptRequest,
                 deadline: float) -> tuple[bytes, bool, _Failed | None]:
    """Up to the cap of the body, whether there was more, and why reading failed if it did."""
    raw, buffer, cap, failure = response.raw, bytearray(), request.max_response_bytes, None
    try:
        while len(buffer) <= cap:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(request)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:  # re-armed per read: a stall near the deadline ends at it
                sock.settimeout(remaining)
            chunk = raw.read1(min(_CHUNK, cap + 1 - len(buffer)), decode_content=True)
            if not chunk:
                break
            buffer += chunk
    except _Failed as failed:
        failure = failed
    except (ReadTimeoutError, TimeoutError):
        failure = _timed_out(request)
    except (Urllib3Error, OSError) as exc:
        failure = _Failed(FailureKind.CONNECTION, f"connection error: {_deepest(exc)}")
    return bytes(buffer[:cap]), len(buffer) > cap, failure


def _connection_message(exc: BaseException, url: str) -> str:
    chain = list(_causes(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror | NameResolutionError) for e in chain):
        return f"DNS resolution failed for host {urlsplit(url).hostname!r}"
    if isinstance(exc, requests.exceptions.SSLError) or any(
        isinstance(e, ssl.SSLError) for e in chain
    ):
        return f"TLS error: {_deepest(exc)}"
    return f"connection error: {_deepest(exc)}"


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


def _deepest(exc: BaseException) -> str:
    last = list(_causes(exc))[-1]
    return str(last) or type(last).__name__


def _failure(failed: _Failed) -> AttemptOutcome:
    retryable = is_retryable(failed.kind)
    return AttemptOutcome(False, None, None, False, failed.message, retryable, duration_ms=0)


def _timed_out(request: AttemptRequest) -> _Failed:
    limit_ms = round(request.timeout_s * 1000)
    return _Failed(FailureKind.TIMEOUT, f"timeout: no complete response within {limit_ms} ms")


def _origin(url: str) -> tuple[str, str | None, int]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


_allow_private: ContextVar[bool] = ContextVar("allow_private_targets", default=False)


class PinnedAdapter(HTTPAdapter):
    """Connects to the address :mod:`target_guard` checked, not to a fresh resolution.

    The pool is chosen by the checked IP (as ``requests-hardened`` does); the ``Host``
    header names the URL's host, and for https ``server_hostname`` makes urllib3 send
    that name as SNI and verify the certificate against it.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        host, port, scheme = host_params["host"], host_params["port"], host_params["scheme"]
        addresses = checked_addresses(host, port, _allow_private.get())
        usable = [a for a in addresses if a.version == 4 or urllib3_connection.HAS_IPV6]
        host_params["host"] = str((usable or addresses)[0])
        if "Host" not in request.headers:  # a job's own Host header is sent as given
            shown = f"[{host}]" if ":" in host else host
            default = 443 if scheme == "https" else 80
            request.headers["Host"] = shown if port in (None, default) else f"{shown}:{port}"
        if scheme == "https":
            pool_kwargs["server_hostname"] = host
        return host_params, pool_kwargs

    def get_connection_with_tls_context(self, request: requests.PreparedRequest,
                                        verify: bool | str | None, proxies: Any = None,
                                        cert: Any = None) -> Any:
        if proxies and select_proxy(request.url, proxies):  # would reach an unchecked address
            raise TargetRefused("target refused: proxies are not supported")
        return super().get_connection_with_tls_context(request, verify, proxies, cert)

    def get_connection(self, url: Any, proxies: Any = None) -> Any:  # deprecated, unchecked
        raise NotImplementedError("use get_connection_with_tls_context")


_local = threading.local()


def thread_session() -> requests.Session:
    """This thread's Session (Sessions are not thread-safe; one per worker thread)."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = new_session()
    return session


def new_session() -> requests.Session:
    """A Session that ignores the environment and keeps nothing between jobs.

    ``trust_env=False``: no proxies, ``.netrc`` credentials or CA bundle from the environment;
    a job reaches exactly the URL it names. Cookies are refused, so one job's target cannot
    set a cookie that another job's request would carry. Every request is checked and pinned
    by :class:`PinnedAdapter`.
    """
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = PinnedAdapter(pool_connections=8, pool_maxsize=4, max_retries=0)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
