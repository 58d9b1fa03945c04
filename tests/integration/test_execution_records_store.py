"""Attempt records (``stores/executions.py``) on the real wire server: written once per
attempt, a second write taking the result, and an orphan recorded as failed unless its end
was."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import Entry, ExecutionRecord, Status
from scheduler_service.stores.executions import ExecutionStore
from tests.support.tick_jobs import T0, running_entry


def ended(job_id: ObjectId, entry: Entry, status: Status, **result: Any) -> ExecutionRecord:
    """The record of an attempt that ended at T0 (only the fields given set)."""
    return replace(ExecutionRecord.running(job_id, entry), status=status, **result)


def test_attempt_records_are_written_once_and_a_second_write_takes_the_result(
    wire_db: Database,
) -> None:
    store = ExecutionStore(wire_db)
    store.ensure_indexes()
    job_id = ObjectId()
    entry = running_entry("a")
    failed = ended(job_id, entry, Status.FAILURE, error_message="HTTP 500")
    other = ended(job_id, replace(entry, attempt=2), Status.SUCCESS)
    assert store.record_many([failed, other]) == [None, None]
    # The same attempt again (a retried write, or the end of an attempt another process had
    # recorded as abandoned): one record, with the result written last.
    succeeded = replace(failed, status=Status.SUCCESS, error_message=None, response_code=200)
    assert store.record_many([succeeded]) == [None]
    rows = list(wire_db.job_executions.find({"jobId": job_id}).sort("attempt", 1))
    assert [(r["attempt"], r["status"], r["responseCode"]) for r in rows] == [
        (1, "success", 200), (2, "success", None),
    ]  # fmt: skip
    assert rows[0]["_id"] == failed.id


def test_an_orphan_is_recorded_as_failed_unless_its_end_was_recorded(wire_db: Database) -> None:
    store = ExecutionStore(wire_db)
    store.ensure_indexes()
    job_id = ObjectId()
    later = T0 + timedelta(seconds=30)
    orphan = running_entry("dead")
    store.close_orphan(job_id, orphan, later, "abandoned")
    second = replace(orphan, attempt=2)
    store.record_many([ended(job_id, second, Status.FAILURE)])
    store.close_orphan(job_id, second, later, "abandoned")  # its end was recorded: kept
    legacy = replace(orphan, attempt=3)  # a "running" record, as earlier versions wrote
    wire_db.job_executions.insert_one(ExecutionRecord.running(job_id, legacy).to_document())
    store.close_orphan(job_id, legacy, later, "abandoned")

    rows = list(wire_db.job_executions.find({"jobId": job_id}).sort("attempt", 1))
    assert [(r["attempt"], r["status"], r["errorMessage"]) for r in rows] == [
        (1, "failure", "abandoned"), (2, "failure", None), (3, "failure", "abandoned"),
    ]  # fmt: skip
    assert rows[0]["completedAt"] == later and rows[0]["startedAt"] == T0
