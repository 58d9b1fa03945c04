"""Wait for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MAX_STRETCH = 5.0  # a load-scaled budget is this many times the idle one at most


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


def load_scaled(seconds: float) -> float:
    """A budget of ``seconds`` on an idle machine, stretched by how busy the machine is now
    (the one-minute load average per CPU, from 1 to ``MAX_STRETCH`` times): for setup waits
    on something that is legitimately slower under load (processes starting, a scheduler
    getting the CPU in time), never for what a test asserts."""
    busy = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * min(max(busy, 1.0), MAX_STRETCH)
