"""The MongoDB connection: one ``MongoClient`` per process, made after fork, never at import."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service import embedded_db
from scheduler_service.config import Config

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "job_scheduler"


def connect(config: Config) -> tuple[MongoClient, Database, str]:
    """Return the client, the database, and a description of it for logs and health.

    ``serverSelectionTimeoutMS`` is short (DB_TIMEOUT) so that a database that is down
    answers 503 in seconds instead of pymongo's default 30 s; each API request also runs
    under ``pymongo.timeout`` so that a database that hangs is cut off as well.
    """
    if config.embedded:
        uri = embedded_db.ensure_server(config.data_dir, config.embedded_db_port)
        kind = "embedded"
    else:
        uri = config.mongodb_uri or ""
        kind = "external"
    client: MongoClient = MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=config.db_timeout_ms,
        connectTimeoutMS=config.db_timeout_ms,
        # A whole-operation deadline for every operation (the scheduler's too), so a database
        # that hangs rather than refuses cannot block a thread forever.
        timeoutMS=config.db_timeout_ms,
        appname="scheduler-service",
    )
    database = client.get_default_database(default=DEFAULT_DATABASE)
    description = f"{kind} MongoDB at {redact_uri(uri)}, database {database.name!r}"
    log.info("using %s", description)
    return client, database, kind


def redact_uri(uri: str) -> str:
    """The URI without credentials, for logs and health output."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
