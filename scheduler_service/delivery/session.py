"""The ``requests`` Session every attempt goes through: checked, pinned, nothing kept.

SSRF protection (:mod:`target_guard`): the session's :class:`PinnedAdapter` resolves the
host of every request it sends (each redirect hop too), refuses it unless every address is
allowed, and connects to the first checked address itself: the pool is keyed on that IP,
the ``Host`` header and TLS (SNI and certificate check, via urllib3's ``server_hostname``)
keep the name. urllib3 never resolves the name again, so DNS rebinding cannot swap the
address between check and connect. A name's checked addresses are reused for
``target_guard.RESOLUTION_TTL_S`` (``CheckedResolutions``, one per Session); a refusal is
never kept. The policy (``allow_private``) reaches the adapter through a
context variable set by :func:`private_targets`; outside it private targets are refused.

Attempts on a :class:`PinnedSession` do not go through ``Session.request``: :mod:`sender`
builds them as ``requests`` would and sends them on the pool :meth:`PinnedAdapter.pinned_pool`
picks, checked and pinned the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidURL
from requests.utils import select_proxy
from urllib3 import HTTPConnectionPool
from urllib3.exceptions import LocationValueError
from urllib3.util import connection as urllib3_connection

from scheduler_service.delivery.deadline_watch import POOL_CLASSES
from scheduler_service.delivery.target_guard import CheckedResolutions
from scheduler_service.errors import TargetRefused

if TYPE_CHECKING:
    from scheduler_service.delivery.sender import Target

USER_AGENT = "scheduler-service/0.1"

_allow_private: ContextVar[bool] = ContextVar("allow_private_targets", default=False)


@contextmanager
def private_targets(allowed: bool) -> Iterator[None]:
    """Within the block, requests on this thread may reach private targets if ``allowed``."""
    token = _allow_private.set(allowed)
    try:
        yield
    finally:
        _allow_private.reset(token)


class PinnedAdapter(HTTPAdapter):
    """Connects to the address :mod:`target_guard` checked, not to a fresh resolution.

    The pool is chosen by the checked IP (as ``requests-hardened`` does); the ``Host``
    header names the URL's host, and for https ``server_hostname`` makes urllib3 send
    that name as SNI and verify the certificate against it.
    """

    def __init__(self, resolutions: CheckedResolutions | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resolutions = resolutions or CheckedResolutions()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pools whose connections the attempt's deadline watches (``deadline_watch``)."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        host = self._pin(host_params, pool_kwargs)
        if "Host" not in request.headers:  # the API refuses Host; one stored earlier is sent
            request.headers["Host"] = host
        return host_params, pool_kwargs

    def _pin(self, host_params: dict[str, Any], pool_kwargs: dict[str, Any]) -> str:
        """Check the host and put its first checked address in ``host_params`` (and the
        name in ``server_hostname`` for https); the ``Host`` header to send."""
        host, port, scheme = host_params["host"], host_params["port"], host_params["scheme"]
        addresses = self.resolutions.checked_addresses(host, port, _allow_private.get())
        usable = [a for a in addresses if a.version == 4 or urllib3_connection.HAS_IPV6]
        host_params["host"] = str((usable or addresses)[0])
        if scheme == "https":
            pool_kwargs["server_hostname"] = host
        shown = f"[{host}]" if ":" in host else host
        default = 443 if scheme == "https" else 80
        return shown if port in (None, default) else f"{shown}:{port}"

    def pinned_pool(self, request: requests.PreparedRequest, verify: bool | str,
                    cert: Any = None) -> tuple[HTTPConnectionPool, str]:  # fmt: skip
        """For :mod:`sender`: the checked and pinned pool of ``request``'s URL and the
        ``Host`` header to send, as ``send`` gets them (``get_connection_with_tls_context``
        without proxies, then ``cert_verify``), leaving ``request`` as it is."""
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(
                request, verify, cert)
            host = self._pin(host_params, pool_kwargs)
        except ValueError as exc:
            raise InvalidURL(exc, request=request) from exc
        try:
            pool = self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
        except LocationValueError as exc:
            raise InvalidURL(exc, request=request) from exc
        self.cert_verify(pool, request.url, verify, cert)
        return pool, host

    def get_connection_with_tls_context(self, request: requests.PreparedRequest,
                                        verify: bool | str | None, proxies: Any = None,
                                        cert: Any = None) -> Any:
        if proxies and select_proxy(request.url, proxies):  # would reach an unchecked address
            raise TargetRefused("target refused: proxies are not supported")
        return super().get_connection_with_tls_context(request, verify, proxies, cert)

    def get_connection(self, url: Any, proxies: Any = None) -> Any:  # deprecated, unchecked
        raise NotImplementedError("use get_connection_with_tls_context")


class PinnedSession(requests.Session):
    """The Session of :func:`new_session`; :mod:`sender` sends on it without
    ``Session.request`` and keeps what each URL comes to in ``targets``."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, Target] = {}

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """requests decodes a Location as UTF-8 and raises on other bytes, even with
        redirects off (it prepares the next request anyway): that made a 3xx an
        "unexpected error". Bytes that are not UTF-8 become U+FFFD here instead."""
        if not resp.is_redirect:
            return None
        location = resp.headers["location"]
        return location.encode("latin-1", errors="replace").decode("utf-8", errors="replace")


_local = threading.local()


def thread_session() -> PinnedSession:
    """This thread's Session (Sessions are not thread-safe; one per worker thread)."""
    session: PinnedSession | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = new_session()
    return session


def new_session(resolutions: CheckedResolutions | None = None) -> PinnedSession:
    """A Session that ignores the environment and keeps nothing between jobs.

    ``trust_env=False``: no proxies, ``.netrc`` credentials or CA bundle from the environment;
    a job reaches exactly the URL it names. Cookies are refused, so one job's target cannot
    set a cookie that another job's request would carry. Every request is checked and pinned
    by :class:`PinnedAdapter`, with its own ``resolutions`` (a new one by default).
    """
    session = PinnedSession()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = PinnedAdapter(resolutions, pool_connections=8, pool_maxsize=4, max_retries=0)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
