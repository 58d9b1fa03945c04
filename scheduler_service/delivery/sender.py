"""One request sent on the pinned pool with urllib3, without ``requests``' Session machinery.

Per request, ``requests.Session.request`` merges its settings with the (ignored) environment,
runs hooks, builds a cookie jar for the request and another from the response, prepares the
redirect it was told not to follow and wraps the answer in a ``Response``: issue 19's
profiles put ``requests``, urllib3 and http.client at 65-70% of a worker's CPU, half of it
outside urllib3. None of it is used here: cookies are refused, the environment ignored,
redirects followed by :mod:`attempt` itself.

So an attempt on this service's own Session (:class:`session.PinnedSession`) is built here
as ``requests`` builds it, with ``requests``' own functions wherever they decide what goes
on the wire (URL normalisation, header validation, Basic credentials from the URL's
userinfo), and sent with ``urlopen`` on the pool :class:`session.PinnedAdapter` picks: the
same SSRF check and pinning on every hop, the same ``Retry(0, read=False)``, the same
timeouts, the Session's ``verify`` and ``cert``. urllib3's errors become the exceptions
``requests`` would raise, so :func:`attempt._sending` classifies them as before. What a URL
comes to (:class:`Target`) is kept per Session for the URLs it sent to last (a pure
function of the URL's text and the Session's adapters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import requests
from requests.auth import HTTPBasicAuth
from requests.exceptions import ConnectTimeout, InvalidHeader, ReadTimeout, RetryError, SSLError
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_auth_from_url, select_proxy
from urllib3 import BaseHTTPResponse
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import InvalidHeader as Urllib3InvalidHeader
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util import Timeout

from scheduler_service.delivery.session import PinnedAdapter, PinnedSession
from scheduler_service.errors import TargetRefused

TARGETS_KEPT = 256  # URLs whose Target a Session keeps (the oldest go first)


@dataclass(frozen=True)
class Target:
    """What a URL comes to, as ``requests`` prepares it."""

    prepared: requests.PreparedRequest  # its ``url`` normalised (IDNA host, quoted path)
    path: str  # the request line's target: path and query
    adapter: PinnedAdapter
    basic_auth: str | None  # ``Authorization`` from the URL's userinfo, if it has one


@dataclass
class Outgoing:
    """One request ready to send on a Session: built ahead (``attempt.prepare``) or when
    it is sent. ``Host`` is added when sent, from the checked target, unless present."""

    url: str  # as the job (or the redirect) names it
    target: Target
    method: str
    headers: dict[str, str]
    body: bytes | None
    has_host: bool
    chunked: bool


def target(session: PinnedSession, url: str) -> Target:
    """``url``'s Target, kept on ``session``. Raises ``requests``' URL errors
    (``MissingSchema``, ``InvalidURL``, ``InvalidSchema``) as ``Session.request`` does."""
    kept = session.targets.get(url)
    if kept is not None:
        return kept
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    assert prepared.url is not None
    adapter = session.get_adapter(prepared.url)  # InvalidSchema for anything but http(s)
    if not isinstance(adapter, PinnedAdapter):
        raise TypeError("every adapter of a PinnedSession is a PinnedAdapter")
    basic_auth = None
    userinfo = get_auth_from_url(prepared.url)
    if any(userinfo):
        prepared.headers = CaseInsensitiveDict()
        HTTPBasicAuth(*userinfo)(prepared)
        basic_auth = prepared.headers["Authorization"]
    found = Target(prepared, prepared.path_url, adapter, basic_auth)
    while len(session.targets) >= TARGETS_KEPT:
        del session.targets[next(iter(session.targets))]
    session.targets[url] = found
    return found


def build(session: PinnedSession, method: str, url: str, headers: Mapping[str, str],
          body: bytes | None) -> Outgoing:  # fmt: skip
    """The request ``Session.request`` would send: the Session's headers, then the job's
    (a name in any case replaces the Session's in place), each checked as ``requests``
    checks it; ``Content-Length`` as ``requests`` sets it; Basic credentials from the URL's
    userinfo unless ``headers`` set ``Authorization`` (``attempt._auth``)."""
    found = target(session, url)
    merged: dict[str, tuple[str, str]] = {}
    for source in (session.headers, headers):
        for name, value in source.items():
            if value is None:  # a Session header set to None is not sent
                merged.pop(name.lower(), None)
                continue
            check_header_validity((name, value))  # InvalidHeader, before anything is sent
            merged[name.lower()] = (name, value)
    if body is not None:
        if body:
            merged["content-length"] = ("Content-Length", str(len(body)))
    elif method not in ("GET", "HEAD") and "content-length" not in merged:
        merged["content-length"] = ("Content-Length", "0")
    if found.basic_auth is not None and not any(n.lower() == "authorization" for n in headers):
        merged["authorization"] = ("Authorization", found.basic_auth)
    chunked = not (body is None or "content-length" in merged)
    return Outgoing(url, found, method, dict(merged.values()), body, "host" in merged, chunked)


def send(session: PinnedSession, outgoing: Outgoing, timeout: Timeout) -> BaseHTTPResponse:
    """Check and pin the target, then send; the response's body is left to read
    (``preload_content=False``). Raises what ``HTTPAdapter.send`` would."""
    found = outgoing.target
    if session.proxies and select_proxy(found.prepared.url, session.proxies):
        raise TargetRefused("target refused: proxies are not supported")  # as PinnedAdapter
    pool, host = found.adapter.pinned_pool(found.prepared, session.verify, session.cert)
    headers = outgoing.headers if outgoing.has_host else {**outgoing.headers, "Host": host}
    try:
        return pool.urlopen(outgoing.method, found.path, body=outgoing.body, headers=headers,
                            redirect=False, assert_same_host=False, preload_content=False,
                            decode_content=False, retries=found.adapter.max_retries,
                            timeout=timeout, chunked=outgoing.chunked)  # fmt: skip
    except (ProtocolError, OSError, ClosedPoolError, Urllib3ProxyError) as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            raise ConnectTimeout(exc) from exc
        if isinstance(reason, ResponseError):
            raise RetryError(exc) from exc
        if isinstance(reason, Urllib3SSLError):
            raise SSLError(exc) from exc
        raise requests.exceptions.ConnectionError(exc) from exc
    except Urllib3SSLError as exc:
        raise SSLError(exc) from exc
    except ReadTimeoutError as exc:
        raise ReadTimeout(exc) from exc
    except Urllib3InvalidHeader as exc:
        raise InvalidHeader(exc) from exc


def close(response: BaseHTTPResponse) -> None:
    """As ``requests.Response.close`` on a response read from ``raw``: an answer read to
    its end has already given its connection back to the pool (kept alive, as with
    ``requests``); any other's connection is closed, never drained (what is left of a
    capped body is not read), and its slot goes back to the pool."""
    response.close()
    response.release_conn()
