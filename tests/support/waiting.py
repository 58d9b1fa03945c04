"""Wait for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float = 10, interval_s: float = 0.02,
               message: str = "") -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Raises AssertionError (naming ``message`` and the last value seen) after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; "
                                 f"last value: {value!r}")
        time.sleep(interval_s)
