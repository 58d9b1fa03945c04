"""History retention: the TTL index on job_executions, on the real wire server."""

from __future__ import annotations

from pymongo.database import Database

from scheduler_service.stores.executions import RETENTION_INDEX, ExecutionStore


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
    wanted = {"jobId_1_startedAt_-1", "status_1_startedAt_-1", "jobId_1_scheduledAt_1_attempt_1"}
    assert wanted <= names


def test_superseded_indexes_are_dropped(wire_db: Database) -> None:
    """A database made by an earlier version loses the indexes every claim rewrote."""
    from scheduler_service.stores.jobs import JobStore

    wire_db.jobs.create_index("nextRunAt", name="nextRunAt_1")
    wire_db.jobs.create_index("enabled", name="enabled_1")
    wire_db.job_executions.create_index("status", name="status_1")
    wire_db.jobs.create_index("searchText", name="searchText_1")
    wire_db.jobs.create_index([("enabled", 1), ("nextRunAt", 1)], name="enabled_1_nextRunAt_1")
    wire_db.jobs.create_index([("$**", 1)], name="onSuccess_onFailure_wildcard",
                              wildcardProjection={"onSuccess": 1, "onFailure": 1})  # fmt: skip
    JobStore(wire_db).ensure_indexes()
    ExecutionStore(wire_db).ensure_indexes()
    JobStore(wire_db).ensure_indexes()  # idempotent once they are gone
    jobs = set(wire_db.jobs.index_information())
    assert jobs == {"_id_", "enabled_1_nextRunAt_1__id_1", "inflight_dueAt_1", "skippedTicks_1",
                    "sample_1_enabled_1_nextRunAt_1__id_1",  # sampled jobs (partial)
                    # the jobs that chain to a job (sparse)
                    "onSuccess_1", "onFailure_1"}  # fmt: skip
    # The list's indexes are the catalog's (stores/job_catalog.py), off the claim's path.
    assert set(wire_db.job_catalog.index_information()) == {
        "_id_", "createdAt_-1__id_-1", "tags_1_createdAt_-1__id_-1",
        "enabled_1_createdAt_-1__id_-1", "name_1__id_1", "sample_1_name_1__id_1",
        "endsAt_1_pending"}  # fmt: skip
    assert "status_1" not in set(wire_db.job_executions.index_information())


def test_dead_letters_are_kept_their_own_number_of_days(wire_db: Database) -> None:
    from scheduler_service.stores import dead_letters

    def dead_letter_ttl() -> int | None:
        index = wire_db.dead_letters.index_information()[dead_letters.RETENTION_INDEX]
        return index.get("expireAfterSeconds")

    store = dead_letters.DeadLetterStore(wire_db)
    store.ensure_indexes(30)
    assert dead_letter_ttl() == 30 * 86400
    store.ensure_indexes(3)
    assert dead_letter_ttl() == 3 * 86400
    store.ensure_indexes(0)
    assert dead_letter_ttl() is None
    assert "jobId_1_scheduledAt_1" in wire_db.dead_letters.index_information()
