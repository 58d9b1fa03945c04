"""Fixtures shared by the integration tests (the wire server's and the HTTP target are in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.in_process import running_service


@pytest.fixture
def service(wire_uri: str) -> Iterator[Flask]:
    """The app with its scheduler on the wire server, polling every 200 ms with 4 workers
    and a 2 s attempt timeout: for tests driven by manual runs, replays and chained runs. A
    module that needs other settings defines its own ``service``."""
    with running_service(wire_uri, scheduler_poll_interval_ms=200, max_concurrent_jobs=4,
                         job_timeout_ms=2000) as app:  # fmt: skip
        yield app


@pytest.fixture
def api(service: Flask) -> FlaskClient:
    return service.test_client()
