"""Fixtures of the deployment tests: a database of their own on the session's wire server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import fresh_database_uri


@pytest.fixture(scope="module")
def deploy_db_uri(wire_server: str) -> Iterator[str]:
    """A MONGODB_URI naming a fresh database on the wire server, dropped afterwards."""
    with fresh_database_uri(wire_server, "deploy") as uri:
        yield uri
