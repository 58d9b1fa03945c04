"""Databases of their own on the session's wire server, named in a MONGODB_URI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pymongo import MongoClient


def database_uri(server_uri: str, name: str) -> str:
    """``server_uri`` (a URI of the wire server) naming the database ``name``."""
    base, _, query = server_uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"


@contextmanager
def fresh_database_uri(server_uri: str, prefix: str) -> Iterator[str]:
    """A URI naming a new database ``PREFIX_<random>`` on the server, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield database_uri(server_uri, name)
    finally:
        client: MongoClient = MongoClient(server_uri, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(name)
        finally:
            client.close()
