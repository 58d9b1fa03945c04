"""Fixtures shared by the integration tests (the wire server's are in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.support.http_target import http_target_fixture

# A real HTTP server on 127.0.0.1 for one test (tests/support/http_target.py).
target = pytest.fixture(http_target_fixture)
