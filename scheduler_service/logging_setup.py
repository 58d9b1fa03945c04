"""Logging: one line per record on stderr, as text or JSON (``LOG_FORMAT``), nothing secret.

- ``configure_logging`` sets the root logger's level and the format of the handler this
  service installs (a handler someone else installed, such as pytest's, is left alone).
- ``install_access_log`` logs one line per HTTP request: method, path (no query string),
  status, duration and client address; never a header (so never the API key) nor a body.
- URLs quoted in execution log lines are redacted by :mod:`delivery.redaction`.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

access_log = logging.getLogger("scheduler_service.access")

_OURS = "_scheduler_service_handler"
_STARTED = "_access_log_started"
_MAX_PATH = 512
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ``extra`` fields and the
    traceback if any. Newlines inside a message are escaped, so a record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Root level, and a stderr handler in ``log_format`` unless the root has other handlers."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, _OURS, False):
            handler.setFormatter(make_formatter(log_format))
    root.setLevel(level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO)


# Libraries whose DEBUG lines quote secrets: urllib3 logs each request line with its query
# string (a job's ``?token=``), pymongo each command with its documents (a job's headers).
# LOG_LEVEL=DEBUG applies to the service's own loggers, not to these.
QUIET_LIBRARIES = ("urllib3", "pymongo", "requests")


# -- the access log ------------------------------------------------------------------------


def install_access_log(app: Flask) -> None:
    """Register first, so that requests refused by later hooks (401, 413, 429) are timed too."""
    app.before_request(_start_timer)
    app.after_request(_log_request)


def _start_timer() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _log_request(response: Response) -> Response:
    started = g.get(_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else 0.0
    path = printable(request.path)[:_MAX_PATH]
    client = request.remote_addr or "-"
    access_log.info(
        "%s %s %d %.1f ms %s",
        request.method,
        path,
        response.status_code,
        duration_ms,
        client,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "durationMs": duration_ms,
            "client": client,
        },
    )
    return response


def printable(text: str) -> str:
    """Control characters escaped: a path with ``%0a`` in it cannot forge a log line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)

