"""What a target's answer comes to: its body read under the attempt's deadline and the
response-size cap, and the outcome (:mod:`outcome`) of a complete answer.

urllib3's timeout bounds each socket read, not the whole response, so the body is streamed
with ``read1`` and the socket's timeout is re-armed to the time left before each read: a
target that drips one byte at a time is cut at the deadline. Past the cap reading stops (the
caller closes the connection, not drained).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from urllib3 import BaseHTTPResponse
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

from scheduler_service.delivery.outcome import (
    AttemptFailed,
    AttemptOutcome,
    FailureKind,
    deepest,
    http_status_outcome,
    timed_out,
)
from scheduler_service.delivery.retry_after import RETRY_AFTER_STATUSES, retry_after_ms

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # as ``requests``' is_redirect
_CHUNK = 65536


def outcome(response: BaseHTTPResponse, timeout_s: float, cap: int,
            deadline: float) -> AttemptOutcome:  # fmt: skip
    """The outcome of ``response``, its body read (up to ``cap`` bytes) by ``deadline``
    (``timeout_s``: the attempt's limit, for the message)."""
    status = response.status
    body, truncated, read_failure = _read_capped(response, timeout_s, cap, deadline)
    text = body.decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        wait = None
        if status in RETRY_AFTER_STATUSES:
            wait = retry_after_ms(response.headers.get("Retry-After"), datetime.now(UTC))
        return http_status_outcome(status, response.reason, location(response), text,
                                   truncated, wait)
    if read_failure is None:
        return AttemptOutcome(True, status, text, truncated, None, False, 0)
    return replace(read_failure.outcome(), status_code=status, response_body=text,
                   truncated=truncated)


def _read_capped(raw: BaseHTTPResponse, timeout_s: float, cap: int,
                 deadline: float) -> tuple[bytes, bool, AttemptFailed | None]:  # fmt: skip
    """Up to the cap of the body, whether there was more, and why reading failed if it did."""
    buffer, failure = bytearray(), None
    try:
        while len(buffer) <= cap:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out(timeout_s)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:  # re-armed per read: a stall near the deadline ends at it
                sock.settimeout(remaining)
            chunk = raw.read1(min(_CHUNK, cap + 1 - len(buffer)), decode_content=True)
            if not chunk:
                break
            buffer += chunk
    except AttemptFailed as failed:
        failure = failed
    except (ReadTimeoutError, TimeoutError):
        failure = timed_out(timeout_s)
    except (Urllib3Error, OSError) as exc:
        failure = AttemptFailed(FailureKind.CONNECTION, f"connection error: {deepest(exc)}")
    return bytes(buffer[:cap]), len(buffer) > cap, failure


def is_redirect(response: BaseHTTPResponse) -> bool:
    return response.status in REDIRECT_STATUSES and "location" in response.headers


def location(response: BaseHTTPResponse) -> str | None:
    """The Location header as the target meant it: http.client decodes header bytes as
    Latin-1; they are UTF-8 by convention, and bytes that are not show as U+FFFD."""
    location = response.headers.get("Location")
    if location is None:
        return None
    return location.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
