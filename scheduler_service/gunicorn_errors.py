"""JSON for the errors gunicorn answers by itself, before the app sees the request.

A request line over ``limit_request_line`` (414), too many or too large headers (431), a
malformed request (400), ... are answered by gunicorn's worker with a small HTML page.
The contract says JSON always, so ``gunicorn_hooks.on_starting`` replaces that page with the
contract's error object (``install()``); the status code and reason stay gunicorn's.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

from scheduler_service.errors import ErrorCode

MAX_MESSAGE = 200  # gunicorn's message may quote the offending request line


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    # gunicorn answers 400, 403, 414, 417, 431, 500 and 501 itself: none has a code of its
    # own in the contract, so they fall back by class as in api/errors.py.
    code = ErrorCode.VALIDATION_ERROR if status_int < 500 else ErrorCode.INTERNAL_ERROR
    detail = str(mesg)[:MAX_MESSAGE]
    message = f"{reason}: {detail}" if detail else reason
    body = json.dumps({
        "success": False,
        "error": {"code": code.value, "message": message, "details": {}},
    })  # fmt: skip  # ASCII only: json.dumps escapes the rest
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin-1"))


def install() -> None:
    """Make every gunicorn worker forked after this call answer its own errors in JSON."""
    util.write_error = write_json_error
