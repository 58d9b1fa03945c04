"""URL redaction: userinfo and query strings stripped from URLs quoted in a message.

For the execution log lines: an attempt's error message may quote a target's redirect
``Location`` or an invalid URL, either of which may carry credentials.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>]+""")


def redact_url(url: str) -> str:
    """``https://user:pw@host/p?token=x#f`` -> ``https://host/p?***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_urls(text: str | None) -> str | None:
    """Every URL quoted in ``text`` without its userinfo, query string and fragment."""
    if not text:
        return text
    return _URL.sub(lambda match: redact_url(match.group(0)), text)
