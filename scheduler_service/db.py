"""The MongoDB connection: one ``MongoClient`` per process, made after fork, never at import."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from pymongo import MongoClient, WriteConcern
from pymongo.database import Database
from pymongo.errors import PyMongoError

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
    concern = write_concern(config, client)
    database = client.get_default_database(default=DEFAULT_DATABASE, write_concern=concern)
    description = f"{kind} MongoDB at {redact_uri(uri)}, database {database.name!r}"
    log.info("using %s (write concern w:%s)", description, concern.document.get("w", 1))
    return client, database, kind


def write_concern(config: Config, client: MongoClient) -> WriteConcern:
    """``DB_WRITE_CONCERN``; ``auto`` is ``majority`` on a replica set: a claim or a result
    acknowledged by the primary alone can be rolled back by a failover, and the tick then
    fires twice or its record vanishes. A standalone (the embedded server) has no majority
    to wait for: ``w: 1``."""
    if config.db_write_concern == "majority":
        return WriteConcern(w="majority")
    if config.db_write_concern == "journaled":
        return WriteConcern(w=1, j=True)
    if config.db_write_concern == "1":
        return WriteConcern(w=1)
    return WriteConcern(w="majority") if is_replica_set(client) else WriteConcern(w=1)


def journaled(database: Database) -> Database:
    """``database`` with its writes acknowledged only once in the journal (``j: true``), for
    the API's writes: a 201 must survive the database being killed right after it (a
    standalone with ``w: 1`` acknowledges before its journal reaches the disk; measured: a
    job created just before a ``kill -9`` of the embedded server was gone after the
    restart). They are few, so the fsync each costs (about 2 ms here) does not matter."""
    if not isinstance(database, Database):  # mongomock in unit tests: nothing to wait for
        return database
    concern = database.write_concern.document
    return database.with_options(write_concern=WriteConcern(w=concern.get("w", 1), j=True))


def is_replica_set(client: MongoClient) -> bool:
    """Does the server say it is a replica-set member? (the URI's ``replicaSet`` if it does
    not answer)"""
    try:
        return bool(client.admin.command("hello").get("setName"))
    except PyMongoError:
        return bool(client.options.replica_set_name)


def redact_uri(uri: str) -> str:
    """The URI without credentials, for logs and health output."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
