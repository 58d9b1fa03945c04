"""What one process holds: configuration, clock, database handles, stores, services,
scheduler; and ``compose``, the one place that builds them and hands each its parts.

Attached to the Flask app as ``app.extensions["scheduler_service"]``; blueprints and CLI
commands reach it through ``get_runtime()``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.services.dead_letter_service import DeadLetterService
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.dead_letters import DeadLetterStore
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore

if TYPE_CHECKING:
    from scheduler_service.scheduler.scheduler import Scheduler

EXTENSION_KEY = "scheduler_service"


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
            cipher=self.cipher, wake=self.wake, owner=owner,
        )  # fmt: skip

    def close(self) -> None:
        """Stop the scheduler (gracefully) and close the database client."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.client is not None:
            self.client.close()


def compose(
    config: Config, clock: Clock, database: Database, client: MongoClient | None, kind: str
) -> Runtime:
    """The composition root: the stores, the cipher and the wake signal, each made once and
    handed to the job service (here) and the scheduler (``Runtime.new_scheduler``)."""
    jobs, executions = JobStore(database), ExecutionStore(database)
    dead_letters = DeadLetterStore(database)
    cipher = HeaderCipher(config.encryption_keys)
    wake = threading.Event()
    return Runtime(
        config=config, clock=clock, client=client, database=database, database_kind=kind,
        jobs=jobs, executions=executions, ticks=TickStore(database), dead_letters=dead_letters,
        cipher=cipher, wake=wake,
        job_service=JobService(jobs, executions, config, clock, cipher=cipher, on_change=wake.set),
        dead_letter_service=DeadLetterService(dead_letters, jobs, clock, on_change=wake.set),
    )  # fmt: skip


def get_runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]
