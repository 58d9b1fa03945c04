"""What one process holds: configuration, clock, database handles, services, scheduler.

Attached to the Flask app as ``app.extensions["scheduler_service"]``; blueprints and CLI
commands reach it through ``get_runtime()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.models.executions import ExecutionStore
from scheduler_service.models.jobs import JobStore
from scheduler_service.services.job_service import JobService

if TYPE_CHECKING:
    from scheduler_service.scheduler.service import Scheduler

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
    job_service: JobService
    scheduler: Scheduler | None = None


    def close(self) -> None:
        """Stop the scheduler (gracefully) and close the database client."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.client is not None:
            self.client.close()


def get_runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]
