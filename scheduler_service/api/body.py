"""Request bodies: JSON only, size-capped, and only values MongoDB can store.

Flask's ``request.get_json()`` would accept ``NaN``, integers BSON cannot hold, lone UTF-16
surrogates (``"\\ud800"``) and a key given twice (keeping the last), and turn bad input
into werkzeug's generic 400; here each of those is a 400 that says why, so that no client
input can surface as a 500 from the database driver or be read other than as written.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from scheduler_service.errors import InvalidInput

JSON_MIMETYPE = "application/json"
# MongoDB refuses documents nested deeper than 100 levels; a job's body sits inside the
# job document, so cap it well below that.
MAX_DEPTH = 64
_INT64 = (-(2**63), 2**63 - 1)


def reject_oversize() -> None:
    """``before_request``: a declared Content-Length over the cap is a 413 for every route,
    read or not. A body without one (chunked) is capped while it is read."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise RequestEntityTooLarge(f"Request body exceeds {limit} bytes")


def json_body() -> Any:
    """The parsed JSON body of a POST/PUT; 415, 413 or 400 with a clear message otherwise."""
    if request.mimetype != JSON_MIMETYPE:
        got = request.mimetype or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json (got {got})")
    return parse_json(_read_body())


def optional_json_body() -> Any:
    """The body of a POST that needs none: no body at all reads as ``{}``; a body is read
    as ``json_body`` reads it (415 for another type, 400 if malformed), so that what a
    client sends is never silently ignored."""
    raw = _read_body()
    if not raw:
        return {}
    if request.mimetype != JSON_MIMETYPE:
        got = request.mimetype or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json (got {got})")
    return parse_json(raw)


def _read_body() -> bytes:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is not None or limit is None:
        return request.get_data(cache=True)  # werkzeug checks Content-Length against the cap
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # a server that does not de-chunk: the body cannot be read safely
    # Chunked: werkzeug's capped stream stops silently at the cap (a truncated body, so a
    # misleading 400), so read one byte past it to tell "exactly the cap" from "over".
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge(f"Request body exceeds {limit} bytes")
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN, 64-bit integers, finite numbers, bounded depth) or InvalidInput."""
    if not raw.strip():
        raise _malformed("the request body is empty")
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_int=_int64,
                           parse_float=_finite_float, object_pairs_hook=_object_once_each_key)
    except RecursionError:
        raise _malformed(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the checks above
        raise _malformed(str(exc)) from None
    _check_storable(value)
    return value


def _malformed(reason: str, field: str = "_schema") -> InvalidInput:
    message = f"Malformed JSON body: {reason}"
    return InvalidInput(message, {field: [message]})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _int64(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"integer {text[:30]} does not fit in 64 bits")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _object_once_each_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``{"enabled": true, "enabled": false}`` is a 400, not the last value silently."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise ValueError(f"the key {_quoted(key)} is given more than once")
        value[key] = item
    return value


def _check_storable(value: Any) -> None:
    """Depth, key and text checks, iteratively (a deep body must not exhaust the stack).
    A failure names the top-level field it is in (``body``, ``endpoint``...)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "_schema")]
    while stack:
        item, depth, field = stack.pop()
        if isinstance(item, str):
            _check_text(item, field)
        elif isinstance(item, dict | list) and depth > MAX_DEPTH:
            raise _malformed(f"nested deeper than {MAX_DEPTH} levels", field)
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise _malformed("object keys must not contain NUL characters", field)
                _check_text(key, field)
                stack.append((child, depth + 1, key if depth == 1 else field))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, field) for child in item)


def _check_text(text: str, field: str) -> None:
    """JSON's ``\\ud800`` escapes can spell a lone UTF-16 surrogate, which Python keeps
    but no UTF-8 encoder (BSON, the HTTP request) will take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise _malformed(
            f"a string holds a lone UTF-16 surrogate (\\u{ord(bad):04x}), which is not text",
            field,
        ) from None


def _quoted(key: str) -> str:
    shown = key[:50].encode("unicode_escape").decode("ascii")  # escapes surrogates too
    return f"'{shown}'"
