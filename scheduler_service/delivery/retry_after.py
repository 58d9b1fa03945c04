"""A target's ``Retry-After`` (RFC 9110 §10.2.3) as a delay: a pure function of the header
and the time the answer came.

Read only on 429 and 503 answers (the statuses that define it for a retry). Either form is
taken: delay-seconds (``120``) or an HTTP-date (``Wed, 21 Oct 2015 07:28:00 GMT``; the
obsolete RFC 850 and asctime forms too). A date in the past is no delay; anything else
that does not parse is ignored, as if the header were absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_AFTER_STATUSES = frozenset({429, 503})
# Longer than any retry may wait (retryDelayMax is at most a day): no huge numbers on.
MAX_RETRY_AFTER_MS = 86_400_000


def retry_after_ms(value: str | None, now: datetime) -> int | None:
    """The delay ``value`` asks for, in ms (0 to a day), or None without a usable value."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(int(text[:12]) * 1000, MAX_RETRY_AFTER_MS)
    when = _http_date(text)
    if when is None:
        return None
    delay = (when - now).total_seconds() * 1000
    return max(0, min(int(delay), MAX_RETRY_AFTER_MS))


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
