"""A per-request database deadline, so a hung database answers 503 within the contract's 5 s.

pymongo's client-side operation timeout (``pymongo.timeout``) bounds every operation and
retry inside it; it lives in a context variable, entered before the view and left in
teardown, which Flask runs in the same context.
"""

from __future__ import annotations

from contextlib import ExitStack

import pymongo
from flask import Flask, g

from scheduler_service.runtime import get_runtime

_KEY = "_db_deadline"


def enter_deadline() -> None:
    stack = ExitStack()
    stack.enter_context(pymongo.timeout(get_runtime().config.db_timeout_ms / 1000))
    setattr(g, _KEY, stack)


def exit_deadline(_exc: BaseException | None = None) -> None:
    stack: ExitStack | None = g.pop(_KEY, None)
    if stack is not None:
        stack.close()


def install_deadline(app: Flask) -> None:
    app.before_request(enter_deadline)
    app.teardown_request(exit_deadline)
