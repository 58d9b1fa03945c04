"""Text that reaches the history and the logs from outside: URLs redacted, the target's
words escaped and capped.

An attempt's error message may quote a target's redirect ``Location`` or an invalid URL,
either of which may carry credentials, and the target's reason phrase, which may carry
terminal escapes, a bare CR (a forged log line) or 60 KB of text. :func:`safe_message` is
applied once to every attempt's message, so the stored ``errorMessage`` and the log line
say the same, redacted, escaped and capped.
"""

from __future__ import annotations

import re
import unicodedata
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
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    """Punctuation that ends a URL quoted in prose (``(Location https://x/?q)``) stays."""
    url = match.group(0)
    core = url.rstrip(").,;:!?]")
    return redact_url(core) + url[len(core):]


# Longest message kept: a reason phrase and a Location, with room to spare.
MAX_MESSAGE_LENGTH = 1000
_UNSAFE_CATEGORIES = ("C", "Z")  # control, format, surrogate, unassigned; line separators...


def escape_text(text: str) -> str:
    """Every character a terminal or a log reader could act on, as a visible escape:
    controls (ESC, CR, LF, DEL...), format characters (bidi overrides, zero widths),
    unassigned code points and separators other than the plain space."""
    return "".join(
        char if char == " " or unicodedata.category(char)[0] not in _UNSAFE_CATEGORIES
        else char.encode("unicode_escape").decode("ascii") if ord(char) < 0x10000
        else f"\\U{ord(char):08x}"
        for char in text
    )


def cap_text(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    marker = f"... ({len(text) - limit} more characters)"
    return text[: max(limit - len(marker), 0)] + marker


def safe_message(message: str | None) -> str | None:
    """An attempt's error message as stored and logged: URLs redacted, escaped, capped."""
    if message is None:
        return None
    return cap_text(escape_text(redact_urls(message) or ""), MAX_MESSAGE_LENGTH)
