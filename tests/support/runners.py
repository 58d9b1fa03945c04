"""A ``TickRunner`` on an app's database, config and clock, for single-threaded unit tests
(mongomock): direct writes, nothing started."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler.runner import TickRunner
from scheduler_service.scheduler.running import RunningAttempts
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore


def make_runner(app: Flask, owner: str = "me", **options: Any) -> TickRunner:
    runtime = get_runtime(app)
    return TickRunner(
        TickStore(runtime.database),
        ExecutionStore(runtime.database),
        runtime.config,
        runtime.clock,
        owner,
        RunningAttempts(),
        threading.Event(),
        **options,
    )
