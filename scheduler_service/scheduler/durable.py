"""Writes that record what already happened must not be lost to a short database outage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pymongo.errors import ConnectionFailure, PyMongoError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_WAIT_S = 300.0  # past this the tick's lease has long expired and another process re-runs it


def durable(
    write: Callable[[], T], stopping: threading.Event, max_wait_s: float = MAX_WAIT_S
) -> T | None:
    """Run ``write``, retrying with backoff while the database is unreachable.

    Gives up (returning None) after ``max_wait_s``, or sooner when the process is stopping
    and the database still does not answer. Errors that are not about reachability (a bad
    write) are not retried.
    """
    deadline = time.monotonic() + max_wait_s
    delay = 0.1
    while True:
        try:
            return write()
        except PyMongoError as exc:
            transient = isinstance(exc, ConnectionFailure) or getattr(exc, "timeout", False)
            if not transient or time.monotonic() + delay > deadline:
                log.error("could not record a result: %s", exc)
                return None
            log.warning("database unreachable while recording a result; retrying in %.1f s", delay)
            if stopping.wait(delay) and delay >= 5.0:
                log.error("stopping with a result not recorded: %s", exc)
                return None
            delay = min(delay * 2, 5.0)
