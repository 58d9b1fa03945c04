"""Letting go of claimed entries (``stores/tick_releases.py``), against mongomock and the
real wire server: dropped only by their owner, leases renewed, released in batches, and
the jobs' claims forgotten."""

from __future__ import annotations

from pymongo.database import Database

from scheduler_service.stores.ticks import TickStore
from tests.support.tick_jobs import LEASE, T0, make_job, running_entry


def test_drop_entry_and_renew_leases(store_db: Database) -> None:
    mine, other = running_entry("a"), running_entry("b")
    job = make_job(store_db, inflight=(mine, other))
    ticks = TickStore(store_db)
    later = T0 + 2 * LEASE
    assert (
        ticks.renew_leases([(job.id, mine.id), (job.id, other.id)], "a", later) == 1
    )
    stored = store_db.jobs.find_one({"_id": job.id})["inflight"]
    assert {e["owner"]: e["dueAt"] for e in stored} == {"a": later, "b": T0 + LEASE}
    ticks.drop_entry(job.id, other.id, "a")  # not a's: kept
    ticks.drop_entry(job.id, mine.id, "a")
    assert [e["owner"] for e in store_db.jobs.find_one({"_id": job.id})["inflight"]] == ["b"]


def test_batched_release_drops_only_the_named_entries(store_db: Database) -> None:
    a, b, c = running_entry("x"), running_entry("x"), running_entry("x")
    job1 = make_job(store_db, inflight=(a, b))
    job2 = make_job(store_db, inflight=(c,))
    TickStore(store_db).drop_entries([(job1.id, a.id), (job2.id, c.id)], "x")
    assert [e["id"] for e in store_db.jobs.find_one({"_id": job1.id})["inflight"]] == [b.id]
    assert store_db.jobs.find_one({"_id": job2.id})["inflight"] == []


def test_release_jobs_forgets_only_this_owners_claims(store_db: Database) -> None:
    mine, theirs, other = (make_job(store_db, claimedBy=o) for o in ("a", "b", "a"))
    released = TickStore(store_db).release_jobs([mine.id, theirs.id], "a")
    assert released == 1
    owners = {d["_id"]: d["claimedBy"] for d in store_db.jobs.find()}
    assert owners == {mine.id: None, theirs.id: "b", other.id: "a"}
