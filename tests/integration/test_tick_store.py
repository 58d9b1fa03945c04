"""The claim protocol's storage contract (``stores/ticks.py``), against mongomock and the
real wire server: the poll's reads, claims as compare-and-sets, the overlap rule, claims of
jobs together and claims that replace our settled entries. Letting go of entries:
test_tick_releases_store.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import Entry
from scheduler_service.stores.by_id import IDS_PER_QUERY
from scheduler_service.stores.ticks import TickStore
from tests.support.tick_jobs import LEASE, T0, make_job, running_entry, waiting_entry


def test_two_claimers_of_one_tick_one_wins(store_db: Database) -> None:
    job = make_job(store_db)
    a, b = TickStore(store_db), TickStore(store_db)
    following = T0 + timedelta(seconds=1)
    won_a = a.claim_tick(job, running_entry("a"), following, forbid_overlap=True, started_at=T0)
    won_b = b.claim_tick(job, running_entry("b"), following, forbid_overlap=True, started_at=T0)
    assert (won_a, won_b) == (True, False)
    stored = store_db.jobs.find_one({"_id": job.id})
    assert stored["nextRunAt"] == following
    assert [e["owner"] for e in stored["inflight"]] == ["a"]
    assert stored["lastRunAt"] == T0
    assert stored["claimedBy"] == "a"  # the next tick is a's to take first


def test_claim_fails_when_the_job_changed_or_was_disabled(store_db: Database) -> None:
    job = make_job(store_db)
    store_db.jobs.update_one({"_id": job.id}, {"$set": {"updatedAt": T0 + LEASE}})
    ticks = TickStore(store_db)
    assert not ticks.claim_tick(job, running_entry("a"), T0, forbid_overlap=False, started_at=T0)
    job2 = make_job(store_db, enabled=False)
    assert not ticks.claim_tick(job2, running_entry("a"), T0, forbid_overlap=False, started_at=T0)


def test_forbid_overlap_skips_while_previous_tick_runs(store_db: Database) -> None:
    job = make_job(store_db, inflight=(running_entry("other"),))
    ticks = TickStore(store_db)
    following = T0 + timedelta(seconds=1)
    assert not ticks.claim_tick(
        job, running_entry("a"), following, forbid_overlap=True, started_at=T0
    )
    assert ticks.skip_tick(job, following, only_if_busy=True)
    stored = store_db.jobs.find_one({"_id": job.id})
    assert stored["nextRunAt"] == following
    assert stored["skippedTicks"] == 1
    assert len(stored["inflight"]) == 1


def test_allow_overlap_runs_beside_the_previous_tick(store_db: Database) -> None:
    job = make_job(store_db, inflight=(running_entry("other"),), concurrencyPolicy="ALLOW")
    ticks = TickStore(store_db)
    assert ticks.claim_tick(
        job, running_entry("a"), T0 + timedelta(seconds=1), forbid_overlap=False, started_at=T0
    )
    assert len(store_db.jobs.find_one({"_id": job.id})["inflight"]) == 2


def test_skip_if_busy_does_nothing_when_idle(store_db: Database) -> None:
    job = make_job(store_db)
    assert not TickStore(store_db).skip_tick(job, T0 + LEASE, only_if_busy=True)


def test_a_tick_due_at_the_horizon_itself_is_due(store_db: Database) -> None:
    """On the list's index (enabled_1_nextRunAt_1__id_1) SecantusDB drops the jobs at an
    inclusive upper bound of nextRunAt: the poll's bound is an exclusive one."""
    at = make_job(store_db)
    later = make_job(store_db, nextRunAt=at.next_run_at + timedelta(milliseconds=1))
    due = TickStore(store_db).due_ticks(at.next_run_at, 10)
    assert [job.id for job in due] == [at.id]
    by_priority = TickStore(store_db).due_ticks(at.next_run_at, 10, by_priority=True)
    assert [job.id for job in by_priority] == [at.id] and later.id != at.id


def test_due_queries_find_scheduled_ticks_and_due_entries(store_db: Database) -> None:
    due = make_job(store_db)
    make_job(store_db, nextRunAt=T0 + timedelta(hours=1))
    make_job(store_db, enabled=False)
    waiting = waiting_entry(2, T0 + timedelta(seconds=5))
    with_retry = make_job(store_db, nextRunAt=T0 + timedelta(hours=1), inflight=(waiting,))
    ticks = TickStore(store_db)
    due_ticks = ticks.due_ticks(T0 + timedelta(seconds=1), 10)
    assert [(t.id, t.next_run_at) for t in due_ticks] == [(due.id, due.next_run_at)]
    assert due_ticks[0].schedule is None  # small documents: only what decides queueing
    assert [j.schedule for j in ticks.jobs_by_id([due.id, ObjectId()])] == [due.schedule]
    assert ticks.jobs_with_due_entries(T0 + timedelta(seconds=1), 10) == []
    found = ticks.jobs_with_due_entries(T0 + timedelta(seconds=5), 10)
    assert [j.id for j in found] == [with_retry.id]


def test_jobs_by_id_reads_more_ids_than_one_query_takes(store_db: Database) -> None:
    made = [make_job(store_db, name=f"job {n}") for n in range(IDS_PER_QUERY * 2 + 5)]
    wanted = [job.id for job in made[1:]] + [ObjectId()]  # all but one, and one unknown
    found = TickStore(store_db).jobs_by_id(wanted)
    assert sorted(job.id for job in found) == sorted(job.id for job in made[1:])
    assert TickStore(store_db).jobs_by_id([]) == []


def test_claim_entry_is_a_compare_and_set(store_db: Database) -> None:
    waiting = waiting_entry(2, T0)
    job = make_job(store_db, inflight=(waiting,))
    a, b = TickStore(store_db), TickStore(store_db)
    taken_a = waiting.taken("a", T0, LEASE, next_attempt=False)
    taken_b = waiting.taken("b", T0, LEASE, next_attempt=False)
    assert a.claim_entry(job.id, waiting, taken_a)
    assert not b.claim_entry(job.id, waiting, taken_b)
    entry = store_db.jobs.find_one({"_id": job.id})["inflight"][0]
    assert (entry["owner"], entry["state"]) == ("a", "running")


def test_expired_lease_is_claimed_again_by_one_process(store_db: Database) -> None:
    dead = running_entry("dead", due_at=T0)
    job = make_job(store_db, inflight=(dead,))
    taken = dead.taken("b", T0, LEASE, next_attempt=True)
    assert TickStore(store_db).claim_entry(job.id, dead, taken)
    assert not TickStore(store_db).claim_entry(job.id, dead, replace(taken, owner="c"))


def test_retry_scheduling_respects_disable_unless_manual(store_db: Database) -> None:
    entry = running_entry("a")
    job = make_job(store_db, inflight=(entry,), enabled=False)
    ticks = TickStore(store_db)
    retry = Entry.retry(entry, T0)
    assert not ticks.schedule_retry(job.id, "a", retry, enabled_only=True)
    assert not ticks.schedule_retry(job.id, "someone-else", retry)
    assert ticks.schedule_retry(job.id, "a", retry)


def test_claiming_jobs_together_wins_exactly_those_still_as_seen(store_db: Database) -> None:
    jobs = [make_job(store_db) for _ in range(4)]
    store_db.jobs.update_one({"_id": jobs[1].id}, {"$set": {"updatedAt": T0 + LEASE}})
    store_db.jobs.update_one({"_id": jobs[2].id}, {"$set": {"enabled": False}})
    ticks = TickStore(store_db)
    following = T0 + timedelta(seconds=1)
    entry = running_entry("a")
    won = ticks.claim_ticks(jobs, entry, following, forbid_overlap=True, started_at=T0)
    assert won == {jobs[0].id, jobs[3].id}
    again = ticks.claim_ticks(jobs, running_entry("b"), following, forbid_overlap=True,
                              started_at=T0)
    assert again == set()
    for job in (jobs[0], jobs[3]):
        stored = store_db.jobs.find_one({"_id": job.id})
        assert stored["nextRunAt"] == following
        assert [e["owner"] for e in stored["inflight"]] == ["a"]
    # A shared entry id is dropped job by job.
    ticks.drop_entries([(jobs[0].id, entry.id)], "b")  # b lost: nothing to drop
    assert len(store_db.jobs.find_one({"_id": jobs[0].id})["inflight"]) == 1
    ticks.drop_entries([(jobs[0].id, entry.id)], "a")
    assert store_db.jobs.find_one({"_id": jobs[0].id})["inflight"] == []
    assert len(store_db.jobs.find_one({"_id": jobs[3].id})["inflight"]) == 1


def test_a_claim_replaces_the_settled_entry_it_names_in_the_same_write(
    store_db: Database,
) -> None:
    """A release folded into the next claim: the job holds exactly our settled entry."""
    ticks = TickStore(store_db)
    following = T0 + timedelta(seconds=1)
    settled = running_entry("a")
    held, busy, theirs = (make_job(store_db, inflight=(settled,)) for _ in range(3))
    store_db.jobs.update_one({"_id": busy.id}, {"$push": {"inflight": running_entry("a")
                                                                    .to_document()}})
    store_db.jobs.update_one({"_id": theirs.id}, {"$set": {"inflight.0.owner": "b"}})
    entry = running_entry("a", following)
    won = ticks.claim_ticks([held, busy, theirs], entry, following + timedelta(seconds=1),
                            forbid_overlap=True, started_at=T0, replaces=(settled.id,))
    assert won == {held.id}  # FORBID: our settled entry is no overlap; any other entry is
    stored = store_db.jobs.find_one({"_id": held.id})
    assert [e["id"] for e in stored["inflight"]] == [entry.id]
    assert stored["nextRunAt"] == following + timedelta(seconds=1)
    assert len(store_db.jobs.find_one({"_id": busy.id})["inflight"]) == 2
    # Once replaced, the same claim (a retried write that had landed) matches nothing.
    assert ticks.claim_ticks([held], running_entry("a"), following, forbid_overlap=True,
                             started_at=T0, replaces=settled.id) == set()


def test_a_claim_replaces_each_jobs_own_settled_entry_of_those_it_names(
    store_db: Database,
) -> None:
    """Releases of ticks claimed in different writes, folded into one claim: each job holds
    one of the entries named, its own; an entry of ours not named, or named but another
    process's, refuses the claim (FORBID)."""
    ticks = TickStore(store_db)
    following = T0 + timedelta(seconds=1)
    first, second = running_entry("a"), running_entry("a")
    one, two = make_job(store_db, inflight=(first,)), make_job(store_db, inflight=(second,))
    busy = make_job(store_db, inflight=(running_entry("a"),))
    theirs = make_job(store_db, inflight=(replace(first, owner="b"),))
    both = make_job(store_db, inflight=(first, second))
    entry = running_entry("a", following)
    won = ticks.claim_ticks([one, two, busy, theirs, both], entry,
                            following + timedelta(seconds=1), forbid_overlap=True,
                            started_at=T0, replaces=[first.id, second.id])  # fmt: skip
    assert won == {one.id, two.id}
    for job in (one, two):
        stored = store_db.jobs.find_one({"_id": job.id})
        assert [e["id"] for e in stored["inflight"]] == [entry.id]
    for job, held in ((busy, 1), (theirs, 1), (both, 2)):
        assert len(store_db.jobs.find_one({"_id": job.id})["inflight"]) == held
