"""The job catalog (``stores/job_catalog.py``) on the real wire server (SecantusDB): its
entries follow every change of a job (create, update, enable, disable, retag, rename,
delete, and the claim or skip that disables a job with no tick left, batched); a database
of an earlier version (no catalog, the list's indexes on ``jobs``) is upgraded at
start-up and lists exactly; ``jobs recount`` repairs a catalog written around; a late
write never undoes a later one; a stale entry is never listed against its job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.records import Entry
from scheduler_service.runtime import get_runtime
from scheduler_service.stores import catalog_entries, job_catalog
from scheduler_service.stores.job_catalog import STATE_COLLECTION, STATE_ID, entry
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore
from tests.support.api_on_wire import api_on_wire, open_api
from tests.support.job_listing import QUERIES, create, expected_order, walk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LIMIT = 7
# The list's indexes on ``jobs`` of earlier versions: the catalog's of the same names.
OLD_LIST_INDEXES = [model for model in job_catalog.INDEXES
                    if model.document["name"] in job_catalog.LIST_INDEXES_ON_JOBS]


@pytest.fixture
def api(wire_uri: str) -> Iterator[FlaskClient]:
    with api_on_wire(wire_uri) as app:
        yield app.test_client()


def catalog_matches(db: Database) -> bool:
    """Every job has its entry, as its document says, and no entry is left without one."""
    wanted = {doc["_id"]: entry(doc) for doc in db["jobs"].find()}
    present = {doc["_id"]: doc for doc in db["job_catalog"].find()}
    return wanted == present


def test_the_catalog_follows_every_change_made_through_the_api(
    api: FlaskClient, wire_db: Database
) -> None:
    ids = [create(api, n) for n in range(12)]
    assert catalog_matches(wire_db)
    changes: list[dict[str, Any]] = [{"enabled": False}, {"enabled": True}, {"tags": ["eu"]},
                                     {"tags": []}, {"name": "renamed"},
                                     {"endpoint": "https://other.example.com/x"},
                                     {"tags": ["a", "b"], "enabled": False, "name": "both"}]
    for job_id, change in zip(ids, changes, strict=False):
        assert api.put(f"/api/jobs/{job_id}", json=change).status_code == 200, change
        assert catalog_matches(wire_db), change
    assert api.delete(f"/api/jobs/{ids[9]}").status_code == 200
    assert api.delete(f"/api/jobs/{ids[10]}").status_code == 200
    assert catalog_matches(wire_db)
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(ids[4])})["name"] == "renamed"
    assert "other.example.com" in wire_db["job_catalog"].find_one(
        {"_id": ObjectId(ids[5])})["searchText"]
    for query in QUERIES:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query


def _claim_last_tick(ticks: TickStore, job_ids: list[ObjectId]) -> list[ObjectId]:
    """Claim the one tick of these one-offs (none after it: the claim disables them)."""
    claimed = []
    for job in ticks.jobs_by_id(job_ids):
        entry_ = Entry.scheduled(job.next_run_at, owner="test", now=datetime.now(UTC),
                                 lease=timedelta(minutes=1))  # fmt: skip
        assert ticks.claim_tick(job, entry_, None, forbid_overlap=False,
                                started_at=datetime.now(UTC))  # fmt: skip
        claimed.append(job.id)
    return claimed


def test_the_claim_that_disables_a_one_off_reaches_the_catalog_batched(
    api: FlaskClient, wire_db: Database
) -> None:
    ids = [ObjectId(create(api, n, enabled=True)) for n in range(1, 9)]
    ticks = TickStore(wire_db)  # its own client's process-wide pending disables: this one's
    claimed = _claim_last_tick(ticks, ids[:3])
    # In the catalog within FLUSH_AFTER_S (before any list, which would repair it).
    wait_until(lambda: catalog_matches(wire_db), message="catalog after the claims")
    assert not {str(i) for i in claimed} & set(walk(api, "enabled=true", LIMIT))
    assert sorted(walk(api, "enabled=false", LIMIT)) == sorted(str(i) for i in claimed)
    for query in QUERIES:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query


def test_the_disables_of_many_claims_are_one_write(wire_db: Database, api: FlaskClient) -> None:
    ids = [ObjectId(create(api, n, enabled=True)) for n in range(1, 6)]
    ticks = TickStore(wire_db)
    ticks.catalog.pending.flush()
    pending = ticks.catalog.pending
    updates: list[Any] = []
    original = pending.collection.update_many

    def counting(*args: Any, **kwargs: Any) -> Any:
        updates.append(args)
        return original(*args, **kwargs)

    pending.collection = pending.collection.with_options()  # a copy to wrap
    pending.collection.update_many = counting  # type: ignore[method-assign]
    try:
        with pending.writing:  # hold the flush until every claim is in
            _claim_last_tick(ticks, ids)
        wait_until(lambda: catalog_matches(wire_db), message="catalog after the claims")
    finally:
        pending.collection = ticks.catalog.collection
    assert len(updates) == 1


def test_a_skip_that_ends_a_job_disables_its_entry(api: FlaskClient, wire_db: Database) -> None:
    job_id = ObjectId(create(api, 2, enabled=True))
    ticks = TickStore(wire_db)
    job = ticks.jobs_by_id([job_id])[0]
    assert ticks.skip_tick(job, None)
    wait_until(lambda: catalog_matches(wire_db), message="catalog after the skip")
    assert wire_db["job_catalog"].find_one({"_id": job_id})["enabled"] is False


def test_a_late_write_does_not_undo_a_later_change(api: FlaskClient, wire_db: Database) -> None:
    job_id = create(api, 3, enabled=True)
    older = wire_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert api.put(f"/api/jobs/{job_id}", json={"tags": ["new"]}).status_code == 200
    store = JobStore(wire_db)
    store.catalog.put(older)  # an update's write arriving after a later one's
    store.catalog.disabled([(older["_id"], older["updatedAt"])])  # a claim's, seen before
    store.catalog.pending.flush()
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(job_id)})["tags"] == ["new"]
    assert catalog_matches(wire_db)


def test_a_stale_entry_is_not_listed_against_its_job_and_is_repaired(
    api: FlaskClient, wire_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [create(api, n, enabled=True) for n in range(1, 6)]
    # A process died between the claim that disabled the job and the catalog's write.
    wire_db["jobs"].update_one({"_id": ObjectId(ids[2])}, {"$set": {"enabled": False}})
    assert ids[2] not in walk(api, "enabled=true", LIMIT)
    assert catalog_matches(wire_db)  # the list wrote it again
    assert ids[2] in walk(api, "enabled=false", LIMIT)
    # A job deleted around its entry: not listed, and the entry goes once old (a younger
    # one may be a job being created: catalog_entries.orphans).
    wire_db["jobs"].delete_one({"_id": ObjectId(ids[3])})
    assert ids[3] not in walk(api, "", LIMIT)
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(ids[3])}) is not None
    monkeypatch.setattr(catalog_entries, "ORPHAN_GRACE_S", 0.0)
    assert ids[3] not in walk(api, "", LIMIT)
    assert catalog_matches(wire_db)


def test_recount_repairs_a_catalog_written_around(api: FlaskClient, wire_db: Database) -> None:
    ids = [create(api, n) for n in range(20)]
    model = wire_db["jobs"].find_one({}, {"_id": 0})
    wire_db["jobs"].insert_many([dict(model) for _ in range(5)])  # around the service
    wire_db["job_catalog"].delete_one({"_id": ObjectId(ids[0])})
    wire_db["job_catalog"].update_one({"_id": ObjectId(ids[1])}, {"$set": {"tags": ["x"]}})
    long_ago = datetime.now(UTC) - timedelta(seconds=2 * catalog_entries.ORPHAN_GRACE_S)
    orphan = {**entry(wire_db["jobs"].find_one()), "_id": ObjectId.from_datetime(long_ago)}
    wire_db["job_catalog"].insert_one(orphan)  # its job's create died between the writes
    young = {**orphan, "_id": ObjectId()}  # a job being created: kept
    wire_db["job_catalog"].insert_one(young)
    assert not catalog_matches(wire_db)
    _, repaired = JobStore(wire_db).recount()
    assert repaired == {"inserted": 6, "rewritten": 1, "deleted": 1}
    wire_db["job_catalog"].delete_one({"_id": young["_id"]})
    assert catalog_matches(wire_db)
    assert JobStore(wire_db).recount()[1] == {"inserted": 0, "rewritten": 0, "deleted": 0}


def test_a_database_of_an_earlier_version_is_upgraded_at_start_up(
    wire_uri: str, wire_db: Database
) -> None:
    """Jobs of a version without the catalog: the list's indexes on ``jobs``, no catalog.
    The service's start builds the catalog, drops those indexes, and lists exactly."""
    app = open_api(wire_uri)
    api = app.test_client()
    for n in range(30):
        create(api, n)
    get_runtime(app).client.close()
    wire_db["job_catalog"].drop()
    wire_db[STATE_COLLECTION].delete_one({"_id": STATE_ID})
    wire_db["jobs"].create_indexes(OLD_LIST_INDEXES)

    upgraded = open_api(wire_uri)
    try:
        assert catalog_matches(wire_db)
        assert not {model.document["name"] for model in OLD_LIST_INDEXES} & set(
            wire_db["jobs"].index_information())
        assert {model.document["name"] for model in OLD_LIST_INDEXES} <= set(
            wire_db["job_catalog"].index_information())
        listed = upgraded.test_client()
        for query in QUERIES:
            assert walk(listed, query, LIMIT) == expected_order(wire_db, query), query
    finally:
        get_runtime(upgraded).client.close()


def test_a_large_database_of_an_earlier_version_lists_while_its_catalog_builds(
    wire_uri: str, wire_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More jobs than ``SYNC_BUILD_JOBS``: the start does not wait for the catalog (a
    gunicorn worker must start within 30 s); the list reads ``jobs`` on its old indexes
    until the catalog is built in a thread, then the catalog, and the old indexes go."""
    app = open_api(wire_uri)
    for n in range(30):
        create(app.test_client(), n)
    get_runtime(app).client.close()
    wire_db["job_catalog"].drop()
    wire_db[STATE_COLLECTION].delete_one({"_id": STATE_ID})
    wire_db["jobs"].create_indexes(OLD_LIST_INDEXES)
    monkeypatch.setattr(job_catalog, "SYNC_BUILD_JOBS", 0)
    started: list[Any] = []
    original = job_catalog.JobCatalog._build

    def held_build(self: Any, jobs: Any) -> None:  # held until the list was read
        started.append(True)
        wait_until(lambda: len(started) > 1, message="the list read first")
        original(self, jobs)

    monkeypatch.setattr(job_catalog.JobCatalog, "_build", held_build)
    upgraded = open_api(wire_uri)
    try:
        api = upgraded.test_client()
        assert wire_db["job_catalog"].count_documents({}) == 0  # not built yet
        for query in QUERIES:
            assert walk(api, query, LIMIT) == expected_order(wire_db, query), query
        started.append(True)  # let the build go on
        wait_until(lambda: wire_db[STATE_COLLECTION].find_one({"_id": STATE_ID}),
                   message="catalog built")
        wait_until(lambda: not {model.document["name"] for model in OLD_LIST_INDEXES}
                   & set(wire_db["jobs"].index_information()), message="old indexes dropped")
        assert catalog_matches(wire_db)
        for query in QUERIES:
            assert walk(api, query, LIMIT) == expected_order(wire_db, query), query
    finally:
        get_runtime(upgraded).client.close()
