"""What the service shows of a job's secrets: every header value masked unless its name
is on a short list of headers that never carry one, and a URL's userinfo, query values and
fragment masked. Applied to every representation (API, CLI, dashboard, dead letters).

Masking by a list of secret-looking names missed ``X-Authorization``, ``X-Auth``,
``X-Session``, signature headers and whatever a target invents; the safe default is the
other way round: a value is shown only when its header is known to be harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Headers whose values describe the request, never authenticate it: shown as given.
NON_SECRET_HEADERS = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "cache-control",
    "content-encoding", "content-language", "content-type", "pragma", "user-agent",
})  # fmt: skip
# Only these well-known schemes are kept visible. An arbitrary first word is not: for
# ``X-Password: correct horse battery staple`` it would be a quarter of the secret.
_AUTH_SCHEMES = frozenset(
    {
        "basic", "bearer", "digest", "negotiate", "ntlm", "token", "apikey", "dpop",
        "oauth", "hoba", "mutual", "gnap", "privatetoken", "vapid", "aws4-hmac-sha256",
        "scram-sha-1", "scram-sha-256",
    }
)  # fmt: skip


def is_secret_header(name: str) -> bool:
    """True unless the header is one that never carries a secret (case-insensitive)."""
    return name.lower() not in NON_SECRET_HEADERS


def mask_value(value: str) -> str:
    """``Bearer abc`` -> ``Bearer ***``; anything else -> ``***``."""
    scheme, _, credential = value.strip().partition(" ")
    if credential.strip() and scheme.lower() in _AUTH_SCHEMES:
        return f"{scheme} {MASK}"
    return MASK


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with secret values masked; the input is left untouched."""
    return {
        name: mask_value(str(value)) if is_secret_header(name) else value
        for name, value in headers.items()
    }


def mask_url(url: str) -> str:
    """``https://user:pw@host/p?token=abc&page=2#frag`` ->
    ``https://***:***@host/p?token=***&page=***#***``: the scheme, host, port, path and
    query names stay readable; userinfo, every query value and the fragment do not."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{MASK}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = "&".join(_mask_query_item(item) for item in parts.query.split("&"))
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def has_url_secrets(url: str) -> bool:
    """Whether ``mask_url`` would hide anything: userinfo, a query or a fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    return "@" in parts.netloc or bool(parts.query) or bool(parts.fragment)


def _mask_query_item(item: str) -> str:
    name, equals, value = item.partition("=")
    if equals:
        return f"{name}={MASK}" if value else item
    return MASK if item else item  # ``?sk_live_123``: a bare item may be the secret itself
