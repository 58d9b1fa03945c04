"""History retention: the TTL index on job_executions, on the real wire server."""

from __future__ import annotations

from pymongo.database import Database

from scheduler_service.models.executions import RETENTION_INDEX, ExecutionStore


def ttl_of(db: Database) -> int | None:
    return db.job_executions.index_information()[RETENTION_INDEX].get("expireAfterSeconds")


def test_retention_days_become_a_ttl_index(wire_db: Database) -> None:
    store = ExecutionStore(wire_db)
    store.ensure_indexes(30)
    assert ttl_of(wire_db) == 30 * 86400
    store.ensure_indexes(30)  # idempotent
    assert ttl_of(wire_db) == 30 * 86400


def test_a_changed_setting_is_applied_in_place(wire_db: Database) -> None:
    store = ExecutionStore(wire_db)
    store.ensure_indexes(30)
    store.ensure_indexes(7)
    assert ttl_of(wire_db) == 7 * 86400


def test_zero_keeps_history_forever_and_can_be_turned_back_on(wire_db: Database) -> None:
    store = ExecutionStore(wire_db)
    store.ensure_indexes(30)
    store.ensure_indexes(0)
    assert ttl_of(wire_db) is None
    store.ensure_indexes(1)
    assert ttl_of(wire_db) == 86400


def test_other_indexes_survive(wire_db: Database) -> None:
    ExecutionStore(wire_db).ensure_indexes(5)
    names = set(wire_db.job_executions.index_information())
    assert {"jobId_1_startedAt_-1", "status_1", "jobId_1_scheduledAt_1_attempt_1"} <= names
