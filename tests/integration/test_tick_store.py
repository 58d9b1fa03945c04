"""The claim protocol's storage contract, against mongomock and the real wire server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.records import Entry, ExecutionRecord, Job, Status
from scheduler_service.stores.by_id import IDS_PER_QUERY
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def make_job(db: Database, inflight: tuple[Entry, ...] = (), **fields: Any) -> Job:
    JobStore(db).ensure_indexes()
    doc = {
        "schedule": "* * * * * *",
        "endpoint": "http://127.0.0.1:9/x",
        "method": "POST",
        "headers": {},
        "body": None,
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "retryAttempts": 3,
        "retryDelay": 1000,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "nextRunAt": T0,
        "lastRunAt": None,
        "createdAt": T0,
        "updatedAt": T0,
        "inflight": [entry.to_document() for entry in inflight],
        "skippedTicks": 0,
        **fields,
    }
    db.jobs.insert_one(doc)
    return Job.from_document(doc)


def running_entry(owner: str, scheduled_at: datetime = T0, **fields: Any) -> Entry:
    return replace(Entry.scheduled(scheduled_at, owner=owner, now=T0, lease=LEASE), **fields)


def waiting_entry(attempt: int, due_at: datetime) -> Entry:
    return replace(Entry.manual(T0), attempt=attempt, due_at=due_at, is_manual=False)


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


def test_attempt_records_are_written_once_and_a_second_write_takes_the_result(
    wire_db: Database,
) -> None:
    from scheduler_service.stores.executions import ExecutionStore

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
    from scheduler_service.stores.executions import ExecutionStore

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


def test_batched_release_drops_only_the_named_entries(store_db: Database) -> None:
    a, b, c = running_entry("x"), running_entry("x"), running_entry("x")
    job1 = make_job(store_db, inflight=(a, b))
    job2 = make_job(store_db, inflight=(c,))
    TickStore(store_db).drop_entries([(job1.id, a.id), (job2.id, c.id)], "x")
    assert [e["id"] for e in store_db.jobs.find_one({"_id": job1.id})["inflight"]] == [b.id]
    assert store_db.jobs.find_one({"_id": job2.id})["inflight"] == []


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


def test_release_jobs_forgets_only_this_owners_claims(store_db: Database) -> None:
    mine, theirs, other = (make_job(store_db, claimedBy=o) for o in ("a", "b", "a"))
    released = TickStore(store_db).release_jobs([mine.id, theirs.id], "a")
    assert released == 1
    owners = {d["_id"]: d["claimedBy"] for d in store_db.jobs.find()}
    assert owners == {mine.id: None, theirs.id: "b", other.id: "a"}


def ended(job_id: ObjectId, entry: Entry, status: Status, **result: Any) -> ExecutionRecord:
    """The record of an attempt that ended at T0 (only the fields given set)."""
    return replace(ExecutionRecord.running(job_id, entry), status=status, **result)


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
