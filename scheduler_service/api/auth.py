"""API keys: ``Authorization: Bearer <key>`` on every call except health (and the spec).

Keys come from ``API_KEYS`` (comma-separated, several at once so keys can be rotated).
Each presented key is compared with every configured key in constant time. With no keys
configured the API is open, and start-up says so loudly.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, request

from scheduler_service.errors import Unauthorized
from scheduler_service.runtime import get_runtime

log = logging.getLogger(__name__)

# Paths anyone may call: load balancers probe health; the spec documents the API.
OPEN_PATHS = frozenset({"/api/observability/health", "/api/openapi.json"})


def install_auth(app: Flask) -> None:
    if not get_runtime(app).config.api_keys:
        log.warning(
            "API_KEYS is not set: anyone who can reach this service can create jobs that "
            "send requests from it. Set API_KEYS in production."
        )
    app.before_request(require_api_key)


def require_api_key() -> None:
    keys = get_runtime().config.api_keys
    if not keys or request.path in OPEN_PATHS or not request.path.startswith("/api/"):
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("Missing API key: send Authorization: Bearer <key>")
    if not key_matches(presented.strip(), keys):
        raise Unauthorized("Invalid API key")


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    """Constant-time against each key; every key is compared, match or not."""
    given = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched
