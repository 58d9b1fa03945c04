"""Review findings (branch ``review``): catalog entries that lag their job in the direction
the list cannot see are never repaired by a list, so an accepted job drops out of
``GET /api/jobs`` until someone runs ``jobs recount``. Each test sets up the state that a
process killed (or a database deadline reached) between a job's write and its catalog
entry's leaves behind, then lists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database
from pymongo.errors import NetworkTimeout

from scheduler_service.runtime import get_runtime
from scheduler_service.stores import catalog_entries, job_catalog
from scheduler_service.stores.ticks import TickStore
from tests.integration.test_job_catalog_wire import _claim_last_tick, catalog_matches
from tests.support.api_on_wire import api_on_wire
from tests.support.job_listing import create, expected_order, walk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

LIMIT = 2  # pages of 2: a walk of a few jobs crosses pages and stretches


@pytest.fixture
def api(wire_uri: str) -> Iterator[FlaskClient]:
    with api_on_wire(wire_uri) as app:
        yield app.test_client()


def test_a_one_off_changed_in_an_uncatalogued_field_is_disabled_in_the_catalog_by_its_claim(
    api: FlaskClient, wire_db: Database
) -> None:
    """No crash needed: a change of a field the catalog does not hold (here
    ``retryAttempts``) moves the job's ``updatedAt`` but leaves its entry's as it was
    (``JobStore.update`` rewrites the entry only for ``CATALOGUED`` fields). The claim that
    ends the one-off then batches its disable with the job's new ``updatedAt``, which
    ``PendingDisables.flush``'s filter requires of the entry: it matches nothing, and the
    entry says enabled for good."""
    ids = [create(api, n, enabled=True) for n in range(1, 4)]
    assert api.put(f"/api/jobs/{ids[1]}", json={"retryAttempts": 3}).status_code == 200
    ticks = TickStore(wire_db)
    _claim_last_tick(ticks, [ObjectId(ids[1])])
    ticks.catalog.pending.flush()
    assert wire_db["jobs"].find_one({"_id": ObjectId(ids[1])})["enabled"] is False
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(ids[1])})["enabled"] is False
    for query in ["sort=nextRunAt", "enabled=false"]:
        assert ids[1] in walk(api, query, LIMIT), query


def test_an_entry_older_than_its_job_is_not_counted_stale_by_a_repair(
    api: FlaskClient, wire_db: Database
) -> None:
    """After a change the catalog does not hold, the entry keeps the older ``updatedAt``
    (``JobStore.update`` does not rewrite it): ``jobs recount`` has nothing to repair."""
    ids = [create(api, n, enabled=True) for n in range(1, 4)]
    assert api.put(f"/api/jobs/{ids[0]}", json={"retryAttempts": 3}).status_code == 200
    done = get_runtime(api.application).jobs.catalog.repair(wire_db["jobs"])
    assert done == {"inserted": 0, "rewritten": 0, "deleted": 0}
    wire_db["job_catalog"].update_one({"_id": ObjectId(ids[1])}, {"$set": {"name": "stale"}})
    done = get_runtime(api.application).jobs.catalog.repair(wire_db["jobs"])
    assert done == {"inserted": 0, "rewritten": 1, "deleted": 0}


def test_a_batch_of_disables_whose_write_failed_is_written_again(
    api: FlaskClient, wire_db: Database
) -> None:
    """``PendingDisables.flush`` took the batch before writing it and dropped it when the
    write failed: the entries said enabled until ``jobs recount``."""
    ids = [ObjectId(create(api, n, enabled=True)) for n in range(1, 4)]
    ticks = TickStore(wire_db)
    pending = ticks.catalog.pending
    pending.flush()
    pending.collection = pending.collection.with_options()  # a copy to break

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise NetworkTimeout("timed out")

    pending.collection.update_many = failing  # type: ignore[method-assign]
    try:
        with pending.writing:  # no timer's write before the failing one below
            _claim_last_tick(ticks, ids[:2])
        with pytest.raises(NetworkTimeout):
            pending.flush()
    finally:
        pending.collection = ticks.catalog.collection
    wait_until(lambda: all(not doc["enabled"] for doc in wire_db["job_catalog"].find(
        {"_id": {"$in": ids[:2]}})), message="the batch written again")  # fmt: skip
    assert wire_db["job_catalog"].find_one({"_id": ids[2]})["enabled"] is True


def test_a_job_whose_re_enable_did_not_reach_the_catalog_is_listed_once_by_next_run(
    api: FlaskClient,
    wire_db: Database,
) -> None:
    """The reverse lag: the job is enabled in ``jobs`` (a PUT enabled=true whose catalog
    write failed: ``JobCatalog.put`` logs and goes on), its entry still says disabled. By
    ``nextRunAt`` the walk reads the disabled stretch from the catalog and the enabled one
    from ``jobs``; ``verified`` checks each job against the request's filter only (none
    here), not against its stretch's ``enabled``, so the job is listed twice, and its entry
    is never repaired."""
    ids = [create(api, n, enabled=True) for n in range(1, 6)]
    wire_db["job_catalog"].update_one({"_id": ObjectId(ids[2])}, {"$set": {"enabled": False}})
    for query in ["sort=nextRunAt", "sort=-nextRunAt"]:
        listed = walk(api, query, LIMIT)
        assert sorted(listed) == sorted(ids), (query, listed)


def test_an_entry_a_list_reads_is_repaired_when_it_lags_its_job(
    api: FlaskClient, wire_db: Database
) -> None:
    """An entry saying enabled while its job is disabled (a claim's disable lost) is not
    read by the lists of disabled jobs, but it is by the others: the one that reads it
    writes it again, even when it lists the job (here with no filter)."""
    ids = [create(api, n, enabled=True) for n in range(1, 6)]
    wire_db["jobs"].update_one({"_id": ObjectId(ids[2])},
                               {"$set": {"enabled": False}, "$unset": {"nextRunAt": ""}})
    assert ids[2] in walk(api, "", LIMIT)
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(ids[2])})["enabled"] is False
    for query in ["sort=nextRunAt", "sort=-nextRunAt", "enabled=false"]:
        assert ids[2] in walk(api, query, LIMIT), query


def test_a_one_off_whose_disable_was_lost_with_its_process_is_listed_once_due(
    api: FlaskClient, wire_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's case (9b44703: the claim disabled the one-off in ``jobs``, the batched
    disable was lost, kill -9 within 0.1 s): the lists that read disabled jobs from the
    catalog (by ``nextRunAt``, ``enabled=false``) did not list it until ``jobs recount``.
    Its entry carries ``endsAt`` (its tick) while enabled; those lists repair the entries
    past it whose job is disabled (``JobCatalog.overdue``; here without its 10 s wait)."""
    ids = [create(api, n, enabled=True) for n in range(1, 5)]
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    due = create(api, 5, enabled=True, runAt=run_at.isoformat())
    ticks = TickStore(wire_db)
    pending = ticks.catalog.pending
    pending.flush()
    with pending.writing:  # no timer's write: the process dies before it
        _claim_last_tick(ticks, [ObjectId(due)])
        with pending.lock:
            pending.jobs.clear()
    assert wire_db["jobs"].find_one({"_id": ObjectId(due)})["enabled"] is False
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(due)})["enabled"] is True
    monkeypatch.setattr(job_catalog, "OVERDUE_AFTER_S", 0.0)
    wait_until(lambda: datetime.now(UTC) > run_at, message="the one-off due")
    for query in ["sort=nextRunAt", "sort=-nextRunAt", "enabled=false"]:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query
    assert due in walk(api, "enabled=false", LIMIT) and set(ids) <= set(walk(api, "", LIMIT))
    assert "endsAt" not in wire_db["job_catalog"].find_one({"_id": ObjectId(due)})


def test_an_entry_says_when_its_job_ends_while_it_is_enabled(
    api: FlaskClient, wire_db: Database
) -> None:
    """``endsAt``: a one-off's tick, a cron job's ``endAt``; none for a cron job without
    one or a disabled job; moved by a change of the tick, gone with the disable."""
    def ends(job_id: str) -> Any:
        return wire_db["job_catalog"].find_one({"_id": ObjectId(job_id)}).get("endsAt")

    def next_run(job_id: str) -> Any:
        return wire_db["jobs"].find_one({"_id": ObjectId(job_id)})["nextRunAt"]

    def cron_job(**fields: Any) -> str:
        body = {"schedule": "0 0 * * * *", "endpoint": "https://api.example.com/c", **fields}
        response = api.post("/api/jobs", json=body)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["data"]["jobId"])

    one_off = create(api, 1, enabled=True)
    end_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    cron = cron_job(endAt=end_at.isoformat())
    plain = cron_job()
    off = create(api, 4, enabled=False)
    assert ends(one_off) == next_run(one_off)
    assert ends(cron) == end_at
    assert ends(plain) is None and ends(off) is None
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert api.put(f"/api/jobs/{one_off}", json={"runAt": later}).status_code == 200
    assert ends(one_off) == next_run(one_off)
    assert api.put(f"/api/jobs/{one_off}", json={"enabled": False}).status_code == 200
    assert ends(one_off) is None
    assert catalog_matches(wire_db)


def test_a_create_whose_catalog_entry_cannot_be_written_fails_and_writes_no_job(
    api: FlaskClient, wire_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's case (9b44703), changed with the fix: the catalog's insert failed
    (here a timeout: the request's 4 s database deadline can run out there) after the
    job's, the API answered 201 and the job was never listed (a kill -9 between the two
    writes left the same). The entry is now written
    first, so the create fails (503, as for any database failure), no job is written, and
    the lists are as before."""
    listed_before = [create(api, n, enabled=True) for n in range(1, 4)]
    catalog = get_runtime(api.application).jobs.catalog

    def timed_out(*args: Any, **kwargs: Any) -> Any:
        raise NetworkTimeout("timed out")

    monkeypatch.setattr(catalog.collection, "insert_many", timed_out)
    response = api.post("/api/jobs", json={"runAt": (datetime.now(UTC) + timedelta(days=1))
                                           .isoformat(), "endpoint": "https://a.example.com/"})
    monkeypatch.undo()
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["success"] is False
    assert wire_db["jobs"].count_documents({}) == 3
    for query in ["", "sort=name", "enabled=true", "sort=nextRunAt"]:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query
    assert set(listed_before) == set(walk(api, "", LIMIT))


def test_an_entry_whose_job_is_not_written_yet_is_kept_until_it_is_old(
    api: FlaskClient, wire_db: Database
) -> None:
    """A create writes the entry, then the job: a list between the two (or a process
    killed there) finds an entry without its job. Deleting it then (as lists did) left
    the job, written a moment later, out of every list for good; it is deleted only
    once older than ``ORPHAN_GRACE_S`` (by a list, or a repair)."""
    ids = [create(api, n, enabled=True) for n in range(1, 4)]
    # As if the job's insert had not come yet: the entry alone.
    document = wire_db["jobs"].find_one_and_delete({"_id": ObjectId(ids[1])})
    old = {**wire_db["job_catalog"].find_one({"_id": ObjectId(ids[0])}),
           "_id": ObjectId.from_datetime(datetime.now(UTC) - timedelta(
               seconds=2 * catalog_entries.ORPHAN_GRACE_S))}  # a create that died long ago
    wire_db["job_catalog"].insert_one(old)
    for query in ["", "sort=name", "enabled=true"]:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query
    catalog = get_runtime(api.application).jobs.catalog
    assert catalog.repair(wire_db["jobs"])["deleted"] == 0  # the list deleted the old one
    assert wire_db["job_catalog"].find_one({"_id": old["_id"]}) is None
    assert wire_db["job_catalog"].find_one({"_id": ObjectId(ids[1])}) is not None
    wire_db["jobs"].insert_one(document)  # the job's insert arrives
    for query in ["", "sort=name", "enabled=true", "sort=nextRunAt"]:
        assert walk(api, query, LIMIT) == expected_order(wire_db, query), query


def test_the_read_of_overdue_entries_is_served_by_their_partial_index(
    api: FlaskClient, wire_db: Database
) -> None:
    """Each list of disabled jobs makes it: a scan of the catalog would cost it every
    entry (SecantusDB uses a partial index only when the query implies its filter; on
    ``$exists`` it read every entry, 220-290 ms at 6,000)."""
    create(api, 1, enabled=True)
    catalog = get_runtime(api.application).jobs.catalog
    plan = catalog.collection.find(job_catalog.overdue_query(datetime.now(UTC))).explain()
    assert plan["queryPlanner"]["winningPlan"]["inputStage"]["indexName"] == "endsAt_1_pending"

