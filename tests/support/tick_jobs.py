"""Jobs and entries written straight into a database, for the storage contract tests of
the tick stores (``stores/ticks.py``, ``stores/tick_releases.py``) and the records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import Entry, Job
from scheduler_service.stores.jobs import JobStore

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def make_job(db: Database, inflight: tuple[Entry, ...] = (), **fields: Any) -> Job:
    JobStore(db).ensure_indexes()
    doc = {
        "schedule": "* * * * * *",
        "endpoint": "http://127.0.0.1:9/x",
        "method": "POST",
        "headers": {},
        "body": None,
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "retryAttempts": 3,
        "retryDelay": 1000,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "nextRunAt": T0,
        "lastRunAt": None,
        "createdAt": T0,
        "updatedAt": T0,
        "inflight": [entry.to_document() for entry in inflight],
        "skippedTicks": 0,
        **fields,
    }
    db.jobs.insert_one(doc)
    return Job.from_document(doc)


def running_entry(owner: str, scheduled_at: datetime = T0, **fields: Any) -> Entry:
    return replace(Entry.scheduled(scheduled_at, owner=owner, now=T0, lease=LEASE), **fields)


def waiting_entry(attempt: int, due_at: datetime) -> Entry:
    return replace(Entry.manual(T0), attempt=attempt, due_at=due_at, is_manual=False)


def due_job(db: Database, priority: int | None, due: datetime, **fields: Any) -> ObjectId:
    """A minimal every-second job due at ``due``, with ``priority`` (None: stored without
    one, as before priorities existed), for the tests of the order a poll reads."""
    document = {"schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/x",
                "method": "POST", "enabled": True, "nextRunAt": due, "updatedAt": T0,
                "inflight": [], "claimedBy": None, **fields}  # fmt: skip
    if priority is not None:
        document["priority"] = priority
    return db.jobs.insert_one(document).inserted_id
