"""Jobs stored before ``priority`` existed (no field) are given the default by the next
start (``stores/job_priorities.py``), so that a poll behind a backlog sorts them as the 5
they run as, not after every job that has a priority. On the real wire server."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import DEFAULT_PRIORITY, Entry
from scheduler_service.stores import job_priorities
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore
from tests.support.tick_jobs import T0, due_job
from tests.support.waiting import wait_until


def by_priority(db: Database) -> list[ObjectId]:
    return [job.id for job in TickStore(db).due_ticks(T0, 10, by_priority=True)]


def test_the_start_gives_jobs_of_an_earlier_version_the_default_priority(
    wire_db: Database,
) -> None:
    legacy = due_job(wire_db, None, T0 - timedelta(minutes=1))  # the oldest due: no priority
    low = due_job(wire_db, 3, T0 - timedelta(seconds=2))
    high = due_job(wire_db, 7, T0 - timedelta(seconds=1))
    retry = Entry.retry(Entry.manual(T0), T0 - timedelta(minutes=1))
    legacy_retry = due_job(wire_db, None, T0 + timedelta(days=1), inflight=[retry.to_document()])
    low_retry = due_job(wire_db, 3, T0 + timedelta(days=1), inflight=[retry.to_document()])
    assert by_priority(wire_db) == [high, low, legacy]  # the fault: after even priority 3

    store = JobStore(wire_db)
    store.ensure_indexes()  # what a process does at start-up

    assert store.priorities.done()
    assert by_priority(wire_db) == [high, legacy, low]  # sorted as the 5 it runs as
    entries = TickStore(wire_db).jobs_with_due_entries(T0, 10)
    assert [job.id for job in entries] == [legacy_retry, low_retry]
    documents = {d["_id"]: d for d in wire_db.jobs.find()}
    assert {documents[i]["priority"] for i in (legacy, legacy_retry)} == {DEFAULT_PRIORITY}
    assert (documents[low]["priority"], documents[high]["priority"]) == (3, 7)  # untouched
    assert all(d["updatedAt"] == T0 for d in documents.values())  # not a change


def test_it_is_idempotent_and_noted_so_a_later_start_reads_no_job_for_it(
    wire_db: Database,
) -> None:
    due_job(wire_db, None, T0)
    store = JobStore(wire_db)
    assert store.priorities.fill() == 1
    assert store.priorities.fill() == 0  # once done it matches nothing
    # A job written around the API afterwards keeps none until `jobs recount` (fill): a
    # later start only reads the note.
    late = due_job(wire_db, None, T0)
    with mock.patch.object(store.priorities.jobs, "update_many") as update:
        assert store.priorities.ensure() is None
    update.assert_not_called()
    assert "priority" not in wire_db.jobs.find_one({"_id": late})
    assert store.priorities.fill() == 1


def test_a_large_database_is_filled_in_the_background(wire_db: Database) -> None:
    legacy = [due_job(wire_db, None, T0) for _ in range(3)]
    store = JobStore(wire_db)
    with mock.patch.object(job_priorities, "SYNC_FILL_JOBS", 2):
        thread = store.priorities.ensure()
    assert thread is not None
    thread.join(timeout=30)
    wait_until(store.priorities.done, message="the fill noted")
    assert wire_db.jobs.count_documents({"_id": {"$in": legacy}, "priority": 5}) == 3
