"""What one process holds: configuration, clock, database handles, stores, services,
scheduler; and ``compose``, the one place that builds them and hands each its parts.

The life of a process: ``open_runtime()`` reads the configuration, connects and creates the
indexes; ``create_app(runtime)`` builds the Flask app around it (and nothing else); the
process that should run a scheduler calls ``runtime.start_scheduler()`` (gunicorn's
``post_worker_init`` hook in ``gunicorn_hooks.py``, ``flask --app wsgi scheduler run``);
every way of stopping calls ``runtime.close()``, once or more.

Attached to the Flask app as ``app.extensions["scheduler_service"]``; blueprints and CLI
commands reach it through ``get_runtime()``.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from scheduler_service.clock import Clock, SystemClock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.db import journaled
from scheduler_service.services.dead_letter_service import DeadLetterService
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.chain_lock import ChainLock
from scheduler_service.stores.chains import ChainStore, waiting_cap
from scheduler_service.stores.dead_letters import DeadLetterStore
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from scheduler_service.scheduler.scheduler import Scheduler

EXTENSION_KEY = "scheduler_service"
_frozen = threading.Lock()  # held for good once the startup objects are frozen


def freeze_startup_objects() -> bool:
    """Once per process, before its first scheduler starts: collect, then move every object
    alive (modules, the app, clients, stores) to the collector's permanent generation
    (``gc.freeze``), so that later full collections do not walk them again. Light bench,
    one process: a full collection took 90-130 ms, and no worker started a tick meanwhile;
    with them frozen, no collection took over 2 ms in 30 s. True if this call froze them."""
    if not _frozen.acquire(blocking=False):
        return False
    gc.collect()
    gc.freeze()
    return True


@dataclass
class Runtime:
    config: Config
    clock: Clock
    client: MongoClient | None
    database: Database
    database_kind: str  # "embedded", "external" or "injected" (tests)
    jobs: JobStore
    executions: ExecutionStore
    ticks: TickStore
    dead_letters: DeadLetterStore
    chains: ChainStore  # the scheduler's settlement queues chained runs with it
    cipher: HeaderCipher
    wake: threading.Event  # set by the job service when a job changes: the scheduler polls
    job_service: JobService
    dead_letter_service: DeadLetterService
    scheduler: Scheduler | None = None

    def new_scheduler(self, owner: str | None = None) -> Scheduler:
        """A scheduler on this process's stores, not started."""
        from scheduler_service.scheduler.scheduler import Scheduler

        return Scheduler(
            self.ticks, self.executions, self.config, self.clock,
            cipher=self.cipher, dead_letters=self.dead_letters, chains=self.chains,
            wake=self.wake, owner=owner,
        )  # fmt: skip

    def start_scheduler(self) -> Scheduler:
        """Start this process's scheduler, once; ``close()`` stops it."""
        if self.scheduler is None:
            self.scheduler = self.new_scheduler()
            freeze_startup_objects()
            self.scheduler.start()
        return self.scheduler

    def close(self) -> None:
        """The one shutdown path: stop the scheduler gracefully (it stops claiming and lets
        attempts in flight finish within SHUTDOWN_GRACE), write what this process batched,
        then close the database client.
        Idempotent."""
        if self.scheduler is not None:
            self.scheduler.stop()
        stop_clock = getattr(self.clock, "stop", None)
        if stop_clock is not None:  # the database clock's measuring thread
            stop_clock()
        self._flush_batched()
        if self.client is not None:
            self.client.close()

    def _flush_batched(self) -> None:
        """Write the job counts and catalog disables this process batched (each written
        ``FLUSH_AFTER_S`` after the first) now, while the client is open: after ``close``
        their timer's write, and the ``atexit`` one, fail ("Cannot use MongoClient after
        close"), and a SIGTERM right after a create or a one-off's claim lost them."""
        stores = (self.jobs.counts_store, self.jobs.catalog, self.ticks.counts, self.ticks.catalog)
        for pending in {id(store.pending): store.pending for store in stores}.values():
            try:
                pending.flush()
            except PyMongoError as exc:
                log.warning("batched job counts or catalog not written (run jobs recount): %s",
                            exc)  # fmt: skip


def open_runtime(
    config: Config | None = None, *, database: Database | None = None, clock: Clock | None = None
) -> Runtime:
    """Everything a process needs before it serves or schedules: the configuration (the
    environment and ``.env`` unless given), logging, the database and its indexes.

    ``database`` injects one (mongomock in unit tests); otherwise the process connects
    here, after any fork (pymongo is not fork-safe). Starts nothing.
    """
    from dotenv import load_dotenv

    from scheduler_service.db import connect
    from scheduler_service.db_clock import DatabaseClock
    from scheduler_service.logging_setup import configure_logging

    if config is None:
        load_dotenv()
        config = Config.from_env()
    configure_logging(config.log_level, config.log_format)
    client: Any = None
    if database is None:
        client, database, kind = connect(config)
        if clock is None:  # one time for every process: the database server's
            clock = DatabaseClock(client, timedelta(milliseconds=config.max_clock_skew_ms))
            clock.start()
    else:
        kind = "injected"
    runtime = compose(config, clock or SystemClock(), database, client, kind)
    runtime.jobs.ensure_indexes()
    runtime.executions.ensure_indexes(config.execution_retention_days)
    runtime.dead_letters.ensure_indexes(config.dead_letter_retention_days)
    return runtime


def compose(
    config: Config, clock: Clock, database: Database, client: MongoClient | None, kind: str
) -> Runtime:
    """The composition root: the stores, the cipher and the wake signal, each made once and
    handed to the job service (here) and the scheduler (``Runtime.new_scheduler``)."""
    # the API's writes wait for the journal: "accepted means stored" survives a database crash
    api_database = journaled(database)
    cipher = HeaderCipher(config.encryption_keys)
    wake = threading.Event()
    jobs, executions = JobStore(api_database), ExecutionStore(database)
    dead_letters = DeadLetterStore(database)
    chains = ChainStore(database, waiting_cap(config.response_body_limit))
    job_service = JobService(
        jobs, executions, config, clock, cipher=cipher, on_change=wake.set,
        chains=ChainStore(api_database, waiting_cap(config.response_body_limit)),
        chain_lock=ChainLock.for_requests(api_database, clock, config.db_timeout_ms))
    return Runtime(
        config=config, clock=clock, client=client, database=database, database_kind=kind,
        jobs=jobs, executions=executions, ticks=TickStore(database), dead_letters=dead_letters,
        chains=chains, cipher=cipher, wake=wake,
        job_service=job_service,
        dead_letter_service=DeadLetterService(dead_letters, jobs, clock, on_change=wake.set),
    )  # fmt: skip


def get_runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]
