"""Masking of secret header values in everything the service shows (responses, logs)."""

from __future__ import annotations

from collections.abc import Mapping

MASK = "***"
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_PARTS = ("token", "secret", "password", "key")
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
    """True for header names whose values must never be shown (case-insensitive)."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


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
