"""The headers a job may have sent. Each rule keeps out a header that could be accepted but
then not stored or not sent, or that would change how the request is framed on the wire.

- Names: an RFC 9110 token of at most 256 characters, not starting with ``$`` (a stored
  name is a MongoDB field name, and ``$`` names are operators in some queries), each name
  once whatever its case (a request carries one value per name).
- Names the scheduler sets itself are refused: the framing and connection headers
  (``Content-Length``, ``Transfer-Encoding``, ``TE``, ``Trailer``, ``Connection``,
  ``Keep-Alive``, ``Upgrade``, ``Proxy-*``; RFC 9112 forbids a request with both
  ``Transfer-Encoding`` and ``Content-Length``, which can desynchronise a proxy in front of
  the target), and ``Host``, which is always the endpoint's host (the connection goes to
  that host's checked address, and TLS checks that name).
- Values: at most 8 KiB of ISO-8859-1 text (http.client sends Latin-1): visible
  characters, with spaces and tabs only between them. No control character (CR, LF, NUL,
  VT, FF, DEL, ...) and no leading or trailing whitespace, which requests refuses to send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_HEADERS = 50
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 8 * 1024
# RFC 9110 token characters ('$' is one, but not as the first character here).
HEADER_NAME_RE = r"[!#%&'*+\-.^_`|~0-9A-Za-z][!#$%&'*+\-.^_`|~0-9A-Za-z]*\Z"
_NAME = re.compile(HEADER_NAME_RE)
_NOT_IN_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_FRAMING = "the scheduler frames the request itself"
_CONNECTION = "the scheduler manages its connections itself"
SET_BY_THE_SCHEDULER = {
    "host": "the Host header is always the endpoint's host",
    "content-length": _FRAMING,
    "transfer-encoding": _FRAMING,
    "te": _FRAMING,
    "trailer": _FRAMING,
    "connection": _CONNECTION,
    "keep-alive": _CONNECTION,
    "upgrade": _CONNECTION,
}
PROXY_PREFIX = "proxy-"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a job header, or None."""
    if len(name) > MAX_HEADER_NAME_LENGTH:
        return f"Header names must be at most {MAX_HEADER_NAME_LENGTH} characters."
    if name.startswith("$"):
        return "Header names must not start with '$'."
    if not _NAME.match(name):
        return "Not a valid HTTP header name."
    lowered = name.lower()
    if lowered in SET_BY_THE_SCHEDULER:
        return f"{name} cannot be set: {SET_BY_THE_SCHEDULER[lowered]}."
    if lowered.startswith(PROXY_PREFIX):
        return f"{name} cannot be set: Proxy-* headers are for proxies, and none is used."
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value, or None."""
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        return f"Header values must be at most {MAX_HEADER_VALUE_LENGTH} characters."
    if value != value.strip(" \t"):
        return "Header values must not begin or end with spaces or tabs."
    bad = _NOT_IN_VALUE.search(value)
    if bad is None:
        return None
    if ord(bad.group()) > 0xFF:
        return "Header values must be ISO-8859-1 (Latin-1) text."
    return f"Header values must not contain control characters (found {bad.group()!r})."


def repeated_names(names: Iterable[str]) -> list[str]:
    """Names given more than once, compared case-insensitively."""
    seen: set[str] = set()
    repeated = []
    for name in names:
        if name.lower() in seen:
            repeated.append(name)
        seen.add(name.lower())
    return repeated
