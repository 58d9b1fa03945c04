"""Rate limiting (Flask-Limiter): ``RATE_LIMIT`` requests per API key, or per client address.

- The bucket of a request that carries a valid API key is that key's, named by a hash of
  the key (the key itself is never stored nor logged). Any other request (no key, a wrong
  key, or no keys configured) counts against its client address, ``request.remote_addr``,
  which ProxyFix sets from nginx's ``X-Forwarded-For`` when ``TRUST_PROXY`` is on. The check
  runs before authentication, so guessing keys is rate limited too.
- One limit for the whole API (Flask-Limiter's application limit), fixed windows. Health
  is exempt, so monitors and load balancers are never refused.
- Counters live in ``RATE_LIMIT_STORAGE_URI``: ``memory://`` (default) counts per process,
  so with N gunicorn workers a client may get up to N times the limit; a shared storage
  (``mongodb://...``, the service's MongoDB will do) makes the limit global. When that
  storage cannot be reached, each process falls back to counting in memory until it is back.
- A request over the limit raises ``RateLimitExceeded``; ``api/errors.py`` turns it into
  429 ``RATE_LIMITED`` with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter

from scheduler_service.api.auth import key_matches
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime

log = logging.getLogger(__name__)

EXTENSION_KEY = "scheduler_service.limiter"
EXEMPT_PATHS = frozenset({"/api/observability/health"})
KEY_PREFIX = "scheduler-service"


def install_rate_limit(app: Flask) -> Limiter | None:
    """Install the limiter's check as a ``before_request`` hook (unless disabled)."""
    config = get_runtime(app).config
    if not config.rate_limited:
        log.info("rate limiting is off (RATE_LIMIT=off)")
        return None
    limiter = Limiter(
        key_func=limit_key,
        application_limits=[config.rate_limit],
        storage_uri=config.rate_limit_storage_uri,
        storage_options=storage_options(config),
        strategy="fixed-window",
        headers_enabled=False,
        in_memory_fallback_enabled=not config.rate_limit_storage_uri.startswith("memory:"),
        key_prefix=KEY_PREFIX,
    )
    limiter.request_filter(is_exempt)
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter
    return limiter


# A limit check waits at most this long for a MongoDB storage, then counts in memory: a
# slow or unreachable storage must not eat the request's own database deadline.
STORAGE_TIMEOUT_MS = 500


def storage_options(config: Config) -> dict[str, str | int]:
    if config.rate_limit_storage_uri.startswith("mongodb"):
        timeout = min(STORAGE_TIMEOUT_MS, config.db_timeout_ms)
        return {"timeoutMS": timeout, "serverSelectionTimeoutMS": timeout,
                "connectTimeoutMS": timeout}  # fmt: skip
    return {}


def is_exempt() -> bool:
    return request.path in EXEMPT_PATHS


def limit_key() -> str:
    """``key:<sha256 of the key>`` for a valid API key, else ``addr:<client address>``."""
    keys = get_runtime().config.api_keys
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if keys and scheme.lower() == "bearer" and presented and key_matches(presented, keys):
        return "key:" + hashlib.sha256(presented.encode()).hexdigest()[:32]
    return f"addr:{request.remote_addr or 'unknown'}"


def retry_after_s() -> int:
    """Whole seconds until the window of the limit this request broke resets (at least 1)."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION_KEY)
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 1
    try:
        reset_at = float(current.window[0])  # WindowStats.reset_time
    except Exception:  # the storage failed just now: the window's length is an upper bound
        return max(1, int(current.limit.get_expiry()))
    return max(1, math.ceil(reset_at - time.time()))
