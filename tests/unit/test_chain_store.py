"""The chain store (``stores/chains.py``): the keys a child keeps of the runs triggered for
it, and the lists read for many jobs at once. Chained runs end to end: test_chaining.py."""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.records import Entry, Status
from scheduler_service.records.trigger import Trigger
from scheduler_service.stores.by_id import IDS_PER_QUERY
from scheduler_service.stores.chains import KEPT_KEYS, ChainStore

LISTED = ObjectId("0" * 23 + "1")  # a job named in onSuccess


def test_a_child_keeps_the_keys_of_its_last_triggers_only(
    database: Database, clock: FixedClock
) -> None:
    store = ChainStore(database)
    child = database.jobs.insert_one({"inflight": []}).inserted_id

    def run(key: str) -> tuple[ObjectId, Entry]:
        trigger = Trigger(ObjectId(), clock.now(), Status.SUCCESS, 200, None, key)
        return child, Entry.triggered(trigger, clock.now())

    assert store.trigger([run(f"k{n}") for n in range(KEPT_KEYS + 1)]) == KEPT_KEYS + 1
    assert store.trigger([run("k1"), run(f"k{KEPT_KEYS}")]) == 0  # still known
    assert store.trigger([run("k0")]) == 1  # forgotten: the oldest beyond KEPT_KEYS
    assert len(database.jobs.find_one({"_id": child})["chainKeys"]) == KEPT_KEYS


def test_links_reads_any_number_of_ids_in_batches(database: Database) -> None:
    ids = [database.jobs.insert_one({"onSuccess": [LISTED]}).inserted_id
           for _ in range(IDS_PER_QUERY * 2 + 1)]  # fmt: skip
    found = ChainStore(database).links([*ids, ObjectId()])
    assert found == {job_id: ((LISTED,), ()) for job_id in ids}
