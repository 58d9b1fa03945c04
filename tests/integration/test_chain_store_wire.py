"""The chain store's cap on the wire server: ``inflight.<n>`` with ``$exists`` is how the
trigger's write tells a full child (SecantusDB and MongoDB alike; the unit test covers
mongomock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import Entry, Status
from scheduler_service.records.trigger import Trigger
from scheduler_service.stores.chains import ChainStore

pytestmark = pytest.mark.integration


def test_a_full_child_skips_a_trigger_once_and_takes_one_again_when_a_run_ends(
    wire_db: Database,
) -> None:
    store = ChainStore(wire_db, max_waiting=2)
    child = wire_db.jobs.insert_one({"inflight": []}).inserted_id
    now = datetime.now(UTC).replace(microsecond=0)

    def run(key: str) -> tuple[ObjectId, Entry]:
        return child, Entry.triggered(Trigger(ObjectId(), now, Status.SUCCESS, 200, None, key),
                                      now)  # fmt: skip

    assert store.trigger([run("a"), run("b")]) == 2
    assert store.trigger([run("c")]) == 0
    assert store.trigger([run("c")]) == 0  # applied again (a take-over): counted once
    stored = wire_db.jobs.find_one({"_id": child})
    assert (len(stored["inflight"]), stored["skippedTicks"]) == (2, 1)
    wire_db.jobs.update_one({"_id": child}, {"$pop": {"inflight": -1}})
    assert store.trigger([run("d")]) == 1
    assert len(wire_db.jobs.find_one({"_id": child})["inflight"]) == 2
