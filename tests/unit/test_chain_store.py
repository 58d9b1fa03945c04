"""The chain store (``stores/chains.py``): the keys a child keeps of the runs triggered for
it, and the lists read for many jobs at once. Chained runs end to end: test_chaining.py."""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.records import Entry, Status
from scheduler_service.records.trigger import Trigger
from scheduler_service.stores.by_id import IDS_PER_QUERY
from scheduler_service.stores.chains import KEPT_KEYS, MAX_WAITING, ChainStore, waiting_cap

LISTED = ObjectId("0" * 23 + "1")  # a job named in onSuccess


def test_a_child_keeps_the_keys_of_its_last_triggers_only(
    database: Database, clock: FixedClock
) -> None:
    store = ChainStore(database, max_waiting=KEPT_KEYS + 2)  # every run fits
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


def test_a_child_holding_max_waiting_entries_skips_a_trigger_once_and_counts_it(
    database: Database, clock: FixedClock
) -> None:
    store = ChainStore(database, max_waiting=3)
    child = database.jobs.insert_one({"inflight": []}).inserted_id

    def run(key: str) -> tuple[ObjectId, Entry]:
        trigger = Trigger(ObjectId(), clock.now(), Status.SUCCESS, 200, None, key)
        return child, Entry.triggered(trigger, clock.now())

    assert store.trigger([run("k0"), run("k1"), run("k2")]) == 3
    assert store.trigger([run("k3"), run("k3")]) == 0  # full: skipped, and once only
    stored = database.jobs.find_one({"_id": child})
    assert len(stored["inflight"]) == 3
    assert stored["skippedTicks"] == 1
    assert stored["chainKeys"] == ["k0", "k1", "k2", "k3"]
    database.jobs.update_one({"_id": child}, {"$pop": {"inflight": -1}})  # a run ended
    assert store.trigger([run("k3")]) == 0  # still known: not queued late
    assert store.trigger([run("k4")]) == 1


def test_the_waiting_cap_leaves_room_in_a_document_for_long_parent_responses() -> None:
    assert waiting_cap(4096) == MAX_WAITING
    assert waiting_cap(1 << 20) == 2  # 1 MiB responses: two runs, a few MiB of BSON
    assert waiting_cap(16 << 20) == 1
