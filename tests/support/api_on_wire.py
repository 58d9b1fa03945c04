"""The API alone on the wire server (no scheduler, no rate limit unless asked), driven
through Flask's test client: for tests of what it writes and lists."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime


def open_api(uri: str, **settings: Any) -> Flask:
    """The app on ``uri`` without its scheduler; ``settings`` override ``Config``'s."""
    config: dict[str, Any] = {"scheduler_enabled": False, "rate_limit": "off", **settings}
    return create_app(open_runtime(Config(mongodb_uri=uri, **config)))


@contextmanager
def api_on_wire(uri: str, **settings: Any) -> Iterator[Flask]:
    """``open_api``, closed (its database client) at the end."""
    app = open_api(uri, **settings)
    try:
        yield app
    finally:
        get_runtime(app).close()
