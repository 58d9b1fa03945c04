"""Which due ticks a scheduler queues: its own and unclaimed ones at once, another
process's only once overdue (that process stopped or fell behind); and on a clean stop it
hands its queued jobs over. Claims stay compare-and-sets: this only spares losing ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.records import Entry, Job
from scheduler_service.runtime import compose
from scheduler_service.scheduler.affinity import TAKEOVER_BACKOFF
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.scheduler import Scheduler
from tests.conftest import START

POLL_MS = 1000  # look-ahead two intervals (2 s), take-over after half of one (0.5 s)


def add_job(db: Database, due_in_ms: int, claimed_by: str | None) -> ObjectId:
    return db.jobs.insert_one(
        {
            "schedule": "* * * * * *",
            "endpoint": "http://127.0.0.1:9/x",
            "method": "POST",
            "enabled": True,
            "nextRunAt": START + timedelta(milliseconds=due_in_ms),
            "updatedAt": START,
            "inflight": [],
            "claimedBy": claimed_by,
        }
    ).inserted_id


def entry_of(entry_id: ObjectId) -> Entry:
    """A running entry of ours with this id."""
    entry = Entry.scheduled(START, owner="me", now=START, lease=timedelta(seconds=60))
    return replace(entry, id=entry_id)


def queued(scheduler: Scheduler) -> set[Any]:
    return {candidate.job.id for candidate in scheduler.queue.close()}


def make_scheduler(mongo_db: Database, clock: FixedClock, owner: str = "me") -> Scheduler:
    config = Config(scheduler_poll_interval_ms=POLL_MS, execution_retention_days=0)
    return compose(config, clock, mongo_db, None, "injected").new_scheduler(owner=owner)


def test_a_poll_leaves_another_processs_ticks_to_it_until_overdue(
    mongo_db: Database, clock: FixedClock
) -> None:
    unclaimed = add_job(mongo_db, 500, None)
    mine = add_job(mongo_db, 500, "me")
    theirs_soon = add_job(mongo_db, 500, "other")
    theirs_just_due = add_job(mongo_db, -200, "other")
    theirs_overdue = add_job(mongo_db, -600, "other")
    within_lookahead = add_job(mongo_db, 1900, None)
    beyond_lookahead = add_job(mongo_db, 2100, None)
    scheduler = make_scheduler(mongo_db, clock)
    try:
        scheduler.poll_once()
        got = queued(scheduler)
    finally:
        scheduler.stop(grace_s=0)
    assert got == {unclaimed, mine, theirs_overdue, within_lookahead}
    assert not got & {theirs_soon, theirs_just_due, beyond_lookahead}


def test_a_clean_stop_hands_over_the_jobs_whose_ticks_were_queued(
    mongo_db: Database, clock: FixedClock
) -> None:
    queued_mine = add_job(mongo_db, 500, "me")
    later_mine = add_job(mongo_db, 60_000, "me")  # not queued: taken over once overdue
    theirs = add_job(mongo_db, -600, "other")  # queued (overdue), but not ours to release
    scheduler = make_scheduler(mongo_db, clock)
    scheduler.poll_once()
    scheduler.stop(grace_s=0)
    owners = {d["_id"]: d["claimedBy"] for d in mongo_db.jobs.find()}
    assert owners == {queued_mine: None, later_mine: "me", theirs: "other"}


def test_a_tick_due_before_our_late_attempt_started_waits_for_it_instead_of_overlapping(
    clock: FixedClock,
) -> None:
    """A tick claimed late (within the misfire grace) finds its job's next tick due already.
    That tick did not fall due while the late attempt ran, so it waits for the attempt
    (and is then claimed) rather than being claimed at once and skipped as an overlap. A
    tick that fell due while the attempt ran, or one older than the grace, is claimed at
    once, and the overlap rule decides."""
    running = RunningAttempts()
    catch_up = CatchUp(running, timedelta(milliseconds=2 * POLL_MS))
    job_id, entry_id = ObjectId(), ObjectId()
    due = START - timedelta(milliseconds=300)  # the next tick, due since 300 ms
    job = Job(job_id, "* * * * * *", "http://127.0.0.1:9/x", next_run_at=due,
              inflight=(entry_of(entry_id),))  # fmt: skip
    assert not catch_up.must_wait(job, clock.now()), "the previous tick is not ours"
    catch_up.claimed([(job_id, entry_id)])  # as the dispatcher does for a claim won
    assert catch_up.must_wait(job, clock.now()), "claimed here, about to start"
    with running.track(entry_id, job_id, due, 1, START - timedelta(milliseconds=10)):
        assert catch_up.must_wait(job, clock.now())
        later = clock.now() + timedelta(milliseconds=2 * POLL_MS)  # older than the grace
        assert not catch_up.must_wait(job, later)
    with running.track(entry_id, job_id, due, 1, due - timedelta(milliseconds=1)):
        assert not catch_up.must_wait(job, clock.now()), "it fell due while running"
    catch_up.ended((job_id, entry_id))
    assert not catch_up.must_wait(job, clock.now()), "its attempt ended"


def test_the_dispatcher_holds_back_such_a_tick_without_claiming_it(
    mongo_db: Database, clock: FixedClock
) -> None:
    job_id = add_job(mongo_db, -300, "me")
    entry_id = ObjectId()
    job = replace(Job.from_document(mongo_db.jobs.find_one({"_id": job_id})),
                  inflight=(entry_of(entry_id),))  # fmt: skip
    due = job.next_run_at
    scheduler = make_scheduler(mongo_db, clock)
    try:
        scheduler.catch_up.claimed([(job_id, entry_id)])  # our late attempt, about to start
        scheduler.queue.push(due, ("tick", job_id, due), job)
        # As the dispatch loop takes it: due, with a worker.
        scheduler.dispatcher.dispatch(scheduler.queue.take(1) or [])
        assert scheduler.queue.holds(("tick", job_id, due)), "queued again, not dropped"
        assert scheduler.queue.pop_due_nowait() is None, "not before the re-check"
        stored = mongo_db.jobs.find_one({"_id": job_id})
        assert stored["nextRunAt"] == due and "skippedTicks" not in stored, "not claimed"
    finally:
        scheduler.stop(grace_s=0)


def test_a_lost_take_over_leaves_the_job_to_its_live_process_for_a_while(
    mongo_db: Database, clock: FixedClock
) -> None:
    """Losing a take-over claim shows the job's process is alive, only late: the job is
    left to it for a few intervals, instead of a losing claim each tick."""
    late_theirs = add_job(mongo_db, -600, "other")  # overdue: taken over at the next poll
    unclaimed = add_job(mongo_db, -600, None)
    scheduler = make_scheduler(mongo_db, clock)
    try:
        jobs = [Job.from_document(document) for document in mongo_db.jobs.find()]
        scheduler.affinity.note_lost(jobs, clock.now())  # both claims lost
        scheduler.poll_once()
        assert queued(scheduler) == {unclaimed}, "only the unclaimed job's tick"
    finally:
        scheduler.stop(grace_s=0)
    scheduler = make_scheduler(mongo_db, clock)
    try:
        scheduler.affinity.note_lost(jobs, clock.now())
        clock.advance(milliseconds=TAKEOVER_BACKOFF * POLL_MS)
        scheduler.poll_once()
        assert queued(scheduler) == {unclaimed, late_theirs}, "taken over again once it ends"
    finally:
        scheduler.stop(grace_s=0)


def test_a_claim_the_database_did_not_answer_is_no_lost_take_over(
    mongo_db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = add_job(mongo_db, -600, "other")
    scheduler = make_scheduler(mongo_db, clock)

    def unanswered(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection lost")

    monkeypatch.setattr(scheduler.ticks, "claim_ticks", unanswered)
    try:
        job = Job.from_document(mongo_db.jobs.find_one({"_id": theirs}))
        scheduler.queue.push(job.next_run_at, ("tick", theirs, job.next_run_at), job)
        scheduler.dispatcher.dispatch(scheduler.queue.take(1) or [])
        assert not scheduler.affinity.left_to_another(job, clock.now()), "still taken over"
    finally:
        scheduler.stop(grace_s=0)


def test_orphans_claimed_together_are_all_queued_by_one_poll(
    mongo_db: Database, clock: FixedClock
) -> None:
    """A dead process's ticks claimed in one write share an entry id: each job's is queued."""
    ago = START - timedelta(seconds=90)  # its lease ran out 30 s ago
    dead = Entry.scheduled(ago, owner="dead", now=ago, lease=timedelta(seconds=60))
    ids = [add_job(mongo_db, 5000, "dead") for _ in range(3)]
    mongo_db.jobs.update_many({"_id": {"$in": ids}},
                              {"$set": {"inflight": [dead.to_document()]}})  # fmt: skip
    scheduler = make_scheduler(mongo_db, clock)
    scheduler.poll_once()
    assert queued(scheduler) == set(ids)


def test_a_poll_queues_each_due_entry_of_a_job_and_none_that_is_not_due(
    mongo_db: Database, clock: FixedClock
) -> None:
    """A job holding several entries (ticks claimed together, overlapping runs): each due
    one is queued, and an entry whose lease runs on (listed last) is not."""
    job_id = add_job(mongo_db, 60_000, "other")
    lease = timedelta(seconds=60)
    expired = Entry.scheduled(START, owner="other", now=START - lease, lease=lease)
    also_expired = Entry.scheduled(START, owner="gone", now=START - lease, lease=lease)
    leased = Entry.scheduled(START, owner="other", now=START, lease=lease)
    mongo_db.jobs.update_one({"_id": job_id}, {"$set": {"inflight": [
        e.to_document() for e in (expired, also_expired, leased)]}})  # fmt: skip
    scheduler = make_scheduler(mongo_db, clock)
    try:
        scheduler.poll_once()
        got = scheduler.queue.close()
    finally:
        scheduler.stop(grace_s=0)
    assert sorted(c.entry.id for c in got if c.entry is not None) == sorted(
        [expired.id, also_expired.id])  # fmt: skip


def test_processes_queue_the_same_new_jobs_in_orders_of_their_own(
    mongo_db: Database, clock: FixedClock
) -> None:
    """Polling the same unclaimed jobs, each process claims them in its own order (the same
    one at every poll), not all of them the same jobs first."""
    ids = [add_job(mongo_db, 0, None) for _ in range(40)]
    orders = []
    for owner in ("vm:1:a", "vm:2:b", "vm:1:a"):
        scheduler = make_scheduler(mongo_db, clock, owner=owner)
        try:
            scheduler.poll_once()
            order = []
            while (candidate := scheduler.queue.pop_due_nowait()) is not None:
                order.append(candidate.job.id)
            orders.append(order)
        finally:
            scheduler.stop(grace_s=0)
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(ids)
    assert orders[0] == orders[2], "the same process: the same order"
    assert orders[0][:10] != orders[1][:10], "another process: another order"
