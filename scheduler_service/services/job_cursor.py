"""``cursor`` / ``nextCursor`` of ``GET /api/jobs``: where the next page starts, as an
opaque string (base64url of a small JSON object): the walk's frontier (``job_pages``),
the number of the page it leads to, and a digest of the filters and sort it belongs to.

A cursor is no secret and no capability: it only says where to resume a query the client
could make anyway. Anything else given as ``cursor`` (another query's, edited, truncated)
is a 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from scheduler_service.errors import InvalidInput
from scheduler_service.stores.job_pages import EPOCH, Frontier
from scheduler_service.stores.jobs import JobFilter

VERSION = 1
# The longest cursor a client may send back. One handed out is at most about 1,800: a name
# of 200 characters, each at most 6 bytes of JSON (``\u0001``; 4-byte characters are 4,
# as UTF-8, not 12 as an ASCII escape), in base64. 3,400 still takes one given before that.
MAX_LENGTH = 3400  # within gunicorn's 4,094-byte request line with the other parameters


def _digest(selection: JobFilter) -> str:
    shape = [sorted(selection.tags), selection.enabled, selection.q, selection.sort]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def encode(selection: JobFilter, frontier: Frontier, page: int) -> str:
    key = frontier.key
    body = {
        "v": VERSION, "f": _digest(selection), "p": page, "s": frontier.segment,
        "k": key if key is None or isinstance(key, str)
        else round((key - EPOCH) / timedelta(milliseconds=1)),
        "i": None if frontier.id is None else str(frontier.id),
        "w": round(frontier.spacing_ms, 3), "x": frontier.past,
    }  # fmt: skip
    # UTF-8, not ASCII escapes: a name's 4-byte characters take 4 bytes, not 12, so the
    # next page's request (with a ``q`` of such characters too) fits in a request line.
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("Invalid request: check cursor", details={"cursor": [message]})


def decode(selection: JobFilter, cursor: str) -> tuple[Frontier, int]:
    """The frontier and page number a cursor of this query holds; a 400 for any other."""
    if len(cursor) > MAX_LENGTH:
        raise _refuse("Not a cursor of this API (too long).")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body: Any = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise _refuse("Not a cursor of this API: pass nextCursor as it was given.") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise _refuse("Not a cursor of this API: pass nextCursor as it was given.")
    if body.get("f") != _digest(selection):
        raise _refuse("This cursor belongs to another query: keep tag, enabled, q and sort "
                      "as they were when it was given.")  # fmt: skip
    try:
        return _fitting(selection, _frontier(body)), _whole(body.get("p"), 1, 10**9)
    except (TypeError, ValueError, InvalidId, OverflowError):
        raise _refuse("Not a cursor of this API: pass nextCursor as it was given.") from None


def _fitting(selection: JobFilter, frontier: Frontier) -> Frontier:
    """``frontier`` if the query's walk could have written it: a segment its order has, a
    key of its sort's type (a name, else a time). An edited cursor that passes the digest
    would otherwise be read as past the end: a 200 with an empty page."""
    if frontier.segment >= selection.segment_count:
        raise ValueError(frontier.segment)
    by_name = selection.sort.lstrip("-") == "name"
    if frontier.key is not None and isinstance(frontier.key, str) is not by_name:
        raise ValueError(frontier.key)
    return frontier


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(value)
    return value


def _frontier(body: dict[str, Any]) -> Frontier:
    key_ms, id_hex, spacing = body.get("k"), body.get("i"), body.get("w")
    key: datetime | str | None = None
    if isinstance(key_ms, str):  # a name
        key = key_ms
    elif key_ms is not None:
        key = EPOCH + timedelta(milliseconds=_whole(key_ms, 0, 32503680000000))
    if not isinstance(spacing, int | float) or isinstance(spacing, bool) or not spacing > 0:
        raise ValueError(spacing)
    if id_hex is not None and not (isinstance(id_hex, str) and len(id_hex) == 24):
        raise ValueError(id_hex)
    past = body.get("x", False)
    if not isinstance(past, bool):
        raise ValueError(past)
    return Frontier(segment=_whole(body.get("s"), 0, 1), key=key,
                    id=None if id_hex is None else ObjectId(id_hex),
                    spacing_ms=min(float(spacing), 1e12), past=past)  # fmt: skip

