"""Fixtures of the deployment tests: a database of their own on the session's wire server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pymongo import MongoClient


@pytest.fixture(scope="module")
def deploy_db_uri(wire_server: str) -> Iterator[str]:
    """A MONGODB_URI naming a fresh database on the wire server, dropped afterwards."""
    name = f"deploy_{uuid.uuid4().hex[:12]}"
    base, _, query = wire_server.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    client: MongoClient = MongoClient(wire_server, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()
