"""Fixtures like flaskr's (app, client, runner, clock), plus the real wire server and a real
HTTP target."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service import create_app, embedded_db, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from tests.support.databases import database_uri
from tests.support.http_target import http_target_fixture
from tests.support.ports import free_port

START = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def config() -> Config:
    # Retention off: mongomock applies TTL indexes against the real time, and the fixed
    # clock lives in 2024.
    return Config(
        scheduler_enabled=False, job_retry_attempts=3, job_retry_delay_ms=5000,
        execution_retention_days=0, dead_letter_retention_days=0,
        allow_private_targets=True,  # tests target 127.0.0.1; SSRF tests turn it off
    )


@pytest.fixture
def mongo_db() -> Database:
    """An in-memory mongomock database (not thread-safe: single-threaded tests only)."""
    return mongomock.MongoClient(tz_aware=True)["job_scheduler"]


@pytest.fixture
def app(config: Config, mongo_db: Database, clock: FixedClock) -> Flask:
    return create_app(open_runtime(config, database=mongo_db, clock=clock))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def wire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real MongoDB-wire server (SecantusDB), started once for the session."""
    data_dir = Path(tmp_path_factory.mktemp("wire"))
    uri = embedded_db.ensure_server(str(data_dir), free_port())
    yield uri
    embedded_db.stop_started_servers()


@pytest.fixture
def wire_client(wire_server: str) -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(wire_server, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def wire_db(wire_client: MongoClient) -> Iterator[Database]:
    """A fresh database on the real wire server for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield wire_client[name]
    wire_client.drop_database(name)


@pytest.fixture
def wire_uri(wire_server: str, wire_db: Database) -> str:
    """A MONGODB_URI naming ``wire_db``, for service processes and ``create_app``."""
    return database_uri(wire_server, wire_db.name)


@pytest.fixture(params=["mongomock", "wire"])
def store_db(request: pytest.FixtureRequest) -> Database:
    """The storage contract runs against mongomock and against the real wire server."""
    if request.param == "mongomock":
        return request.getfixturevalue("mongo_db")
    return request.getfixturevalue("wire_db")


# A real HTTP server on 127.0.0.1 for one test (tests/support/http_target.py).
target = pytest.fixture(http_target_fixture)
