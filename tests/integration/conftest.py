"""Fixtures shared by the integration tests (the wire server's and the HTTP target are in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from scheduler_service.delivery.session import new_session
from tests.support.in_process import running_service

# The service's settings (``Config``'s field names) unless a module says otherwise in its
# own ``SERVICE_SETTINGS``: for tests driven by manual runs, replays and chained runs.
SERVICE_SETTINGS: dict[str, Any] = {
    "scheduler_poll_interval_ms": 200, "max_concurrent_jobs": 4, "job_timeout_ms": 2000}


@pytest.fixture
def service(request: pytest.FixtureRequest, wire_uri: str) -> Iterator[Flask]:
    """The app with its scheduler on the wire server, with the module's ``SERVICE_SETTINGS``
    (else this file's): closed, attempts in flight finished, at the end."""
    settings = getattr(request.module, "SERVICE_SETTINGS", SERVICE_SETTINGS)
    with running_service(wire_uri, **settings) as app:
        yield app


@pytest.fixture
def api(service: Flask) -> FlaskClient:
    return service.test_client()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """An outgoing-request session as the scheduler makes them (``delivery/session.py``)."""
    with new_session() as created:
        yield created
