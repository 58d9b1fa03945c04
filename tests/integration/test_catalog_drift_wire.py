"""Review findings (branch ``review``): catalog entries that lag their job in the direction
the list cannot see are never repaired by a list, so an accepted job drops out of
``GET /api/jobs`` until someone runs ``jobs recount``. Each test sets up the state that a
process killed (or a database deadline reached) between a job's write and its catalog
entry's leaves behind, then lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database
from pymongo.errors import NetworkTimeout

from scheduler_service.runtime import get_runtime
from scheduler_service.stores.ticks import TickStore
from tests.integration.test_job_catalog_wire import _claim_last_tick
from tests.support.api_on_wire import api_on_wire
from tests.support.job_listing import create, walk
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
