"""Job documents for seeding, shaped exactly as the service stores them.

One payload goes through the service's own ``JobService.create`` (schema validation,
defaults) into a capturing store; the bench then copies that document with its own
``nextRunAt``. Seeding goes straight to the database (``insert_many``): the API's own
rate is measured separately.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pymongo.collection import Collection

from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.chain_lock import ChainLock
from scheduler_service.stores.chains import ChainStore

NEVER_AGAIN = "0 0 0 1 1 *"  # once a year: after its seeded tick a job does not fire again
EVERY_SECOND = "* * * * * *"


class _Capture:
    """Stands for the job store: ``add`` hands the document back."""

    def add(self, document: dict[str, Any]) -> dict[str, Any]:
        return document


def template(schedule: str, endpoint: str) -> dict[str, Any]:
    # The bench's targets are on 127.0.0.1: allow private targets where the service checks.
    config = Config.from_env(environ={"ALLOW_PRIVATE_TARGETS": "true"})
    # The bench's jobs chain to nothing: the chain store and lock are never asked anything.
    nowhere: Any = {"jobs": None}
    clock = SystemClock()
    service = JobService(_Capture(), None, config, clock,  # type: ignore[arg-type]
                         chains=ChainStore(nowhere),
                         chain_lock=ChainLock.for_requests(nowhere, clock, config.db_timeout_ms))
    document = service.create(
        {"schedule": schedule, "endpoint": endpoint, "method": "POST", "body": {"bench": True}}
    )
    document.pop("_id", None)  # each copy gets its own from insert_many
    return document


def documents(base: dict[str, Any], next_run_at: list[datetime]) -> Iterator[dict[str, Any]]:
    for when in next_run_at:  # insert_many adds _id: each document is a fresh dict
        yield {**base, "nextRunAt": when, "nextTickAt": when, "inflight": [],
               "headers": dict(base["headers"]), "body": copy.deepcopy(base["body"])}


def insert(collection: Collection, docs: Iterator[dict[str, Any]], chunk: int = 1000) -> int:
    buffer: list[dict[str, Any]] = []
    count = 0
    for document in docs:
        buffer.append(document)
        if len(buffer) >= chunk:
            collection.insert_many(buffer, ordered=False)
            count += len(buffer)
            buffer = []
    if buffer:
        collection.insert_many(buffer, ordered=False)
        count += len(buffer)
    return count
