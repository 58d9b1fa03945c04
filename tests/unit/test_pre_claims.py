"""A tick and the next claimed in one write (``scheduler/pre_claims.py``): the writes of the
path (mongomock, single-threaded, fake attempts, an injected clock), which ticks are
claimed together, and what becomes of a pre-claimed tick at its time. Several processes
claiming such ticks are tested on the wire server (tests/integration/test_pre_claims_wire.py)."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.records import ConcurrencyPolicy, Entry, ExecutionType, Job
from scheduler_service.runtime import compose, get_runtime
from scheduler_service.scheduler.claimer import Claim
from scheduler_service.scheduler.planning import plan_job
from scheduler_service.scheduler.pre_claims import (
    PRE_CLAIM_LEASE,
    Verdict,
    entries,
    judge,
    ticks_with,
)
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.timer_queue import Candidate
from scheduler_service.stores.job_counts import JobCountStore
from tests.support.settling import OK, FakeTarget, create_job
from tests.support.workers import Worker, candidate, make_worker
from tests.support.write_count import count_writes

EVERY_SECOND = "* * * * * *"
WITHIN = timedelta(seconds=2)
GRACE = timedelta(seconds=2)
LEASE = timedelta(seconds=60)
AHEAD = timedelta(milliseconds=50)  # claimed ahead of its time (dispatcher.AHEAD)


@pytest.fixture
def database(app: Flask) -> Database:
    return get_runtime(app).database


def worker_with_releases(app: Flask) -> tuple[Worker, Releases]:
    worker = make_worker(app)
    releases = Releases(worker.ticks, "me", LEASE, hold=WITHIN)
    worker.claimer.releases = releases
    worker.claimer.pre_claim_within = WITHIN
    worker.executor.releases = releases
    worker.executor.settlement.releases = releases
    return worker, releases


def as_claimed(claim: Claim) -> Job:
    return replace(claim.job, next_run_at=claim.following, next_tick_at=claim.following_tick,
                   inflight=(claim.entry, *claim.pre_claimed), claimed_by="me")  # fmt: skip


def test_two_ticks_of_an_every_second_job_cost_one_job_write_and_their_two_records(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTarget(monkeypatch, OK)
    job_id = create_job(app, schedule=EVERY_SECOND)
    worker, releases = worker_with_releases(app)
    # The create's counts are written by a timer within 0.1 s: now, not among the writes.
    JobCountStore(database).pending.flush()
    writes = count_writes(monkeypatch, database)
    document = database.jobs.find_one({"_id": job_id})
    first_tick = document["nextRunAt"]
    clock.set(first_tick - AHEAD)

    claims = worker.claimer.claim([candidate(document)])
    [(_, claim)] = claims.won
    assert writes == ["jobs"]  # both ticks claimed in one write
    [pre] = claim.pre_claimed
    assert (claim.entry.scheduled_at, pre.scheduled_at) == (
        first_tick, first_tick + timedelta(seconds=1))  # fmt: skip
    # Leased from its own time, for less than the lease: a process that dies holding it
    # (and, under FORBID, the job's next ticks) leaves it to others sooner.
    assert pre.started_at == pre.scheduled_at
    assert pre.due_at == pre.started_at + PRE_CLAIM_LEASE < pre.started_at + LEASE
    stored = database.jobs.find_one({"_id": job_id})
    assert [e["id"] for e in stored["inflight"]] == [claim.entry.id, pre.id]
    assert stored["nextRunAt"] == first_tick + timedelta(seconds=2)
    # What the dispatcher does: the next tick is queued, the two releases expected with it.
    releases.expect(job_id, (claim.entry.id, pre.id), claim.following)

    worker.executor.execute(claim)
    clock.set(pre.scheduled_at)
    worker.executor.execute(Claim(claim.job, pre))
    assert writes == ["jobs", "job_executions", "job_executions"]  # the releases are held
    assert releases.held() == 1

    clock.set(first_tick + timedelta(seconds=2) - AHEAD)
    follow_up = Candidate(claim.following, 0, ("tick", job_id), as_claimed(claim),
                          follow_up=True)  # fmt: skip
    [(_, after)] = worker.claimer.claim([follow_up]).won
    assert writes == ["jobs", "job_executions", "job_executions", "jobs"]  # 3 writes, 2 runs
    stored = database.jobs.find_one({"_id": job_id})
    assert [e["id"] for e in stored["inflight"]] == [after.entry.id, after.pre_claimed[0].id]
    assert database.job_executions.count_documents({"jobId": job_id, "status": "success"}) == 2
    assert releases.held() == 0


def test_without_pre_claims_each_tick_is_its_own_claim(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create_job(app, schedule=EVERY_SECOND)
    worker = make_worker(app)  # pre_claim_within None
    document = database.jobs.find_one({"_id": job_id})
    clock.set(document["nextRunAt"])
    [(_, claim)] = worker.claimer.claim([candidate(document)]).won
    assert claim.pre_claimed == ()
    assert len(database.jobs.find_one({"_id": job_id})["inflight"]) == 1


def job_of(app: Flask, **fields: Any) -> Job:
    job_id = create_job(app, **fields)
    return Job.from_document(get_runtime(app).database.jobs.find_one({"_id": job_id}))


def test_which_ticks_are_claimed_with_the_one_before(app: Flask, clock: FixedClock) -> None:
    job = job_of(app, schedule=EVERY_SECOND)
    assert job.next_tick is not None
    on_time = plan_job(job, job.next_tick, GRACE)
    ahead = job.next_tick - AHEAD
    ticks, following = ticks_with(job, on_time, WITHIN, GRACE, ahead)
    assert ticks == [job.next_tick + timedelta(seconds=1)]
    assert following == job.next_tick + timedelta(seconds=2)
    assert ticks_with(job, on_time, None, GRACE, ahead) == ([], on_time.following)  # not on
    # Claimed at its time or later: this process is behind, it claims only what it runs.
    assert ticks_with(job, on_time, WITHIN, GRACE, job.next_tick) == ([], on_time.following)
    assert ticks_with(job, on_time, timedelta(milliseconds=500), GRACE, ahead)[0] == []  # far
    late = plan_job(job, job.next_tick + timedelta(seconds=5), GRACE)  # coalesced
    assert ticks_with(job, late, WITHIN, GRACE, ahead)[0] == []
    ending = replace(job, end_at=job.next_tick + timedelta(seconds=1))
    plan = plan_job(ending, ending.next_tick or clock.now(), GRACE)
    assert ticks_with(ending, plan, WITHIN, GRACE, ahead)[0] == []  # would leave no tick after
    at_most_once = replace(job, execution_type=ExecutionType.AT_MOST_ONCE)
    assert ticks_with(at_most_once, on_time, WITHIN, GRACE, ahead) == ([], on_time.following)
    one_off = replace(job, schedule=None)
    assert one_off.next_tick is not None
    plan = plan_job(one_off, one_off.next_tick, GRACE)
    assert ticks_with(one_off, plan, WITHIN, GRACE, ahead) == ([], None)


def test_a_pre_claimed_tick_runs_only_while_its_job_is_as_claimed(
    app: Flask, clock: FixedClock
) -> None:
    job = job_of(app, schedule=EVERY_SECOND)
    now = clock.now()
    first = Entry.scheduled(now, owner="me", now=now, lease=LEASE)
    mine = Entry.scheduled(now + timedelta(seconds=1), owner="me", now=now + timedelta(seconds=1),
                           lease=PRE_CLAIM_LEASE)  # fmt: skip
    claimed = replace(job, next_run_at=now + timedelta(seconds=2), inflight=(first, mine))
    later = claimed.updated_at + timedelta(seconds=1)  # type: ignore[operator]

    def verdict(fresh: Job | None, settled: set[object] = frozenset(),  # type: ignore[assignment]
                wait: bool = False) -> Verdict:  # fmt: skip
        return judge(claimed, mine, fresh, "me", settled_here=set(settled), must_wait=wait,
                     now=now + timedelta(seconds=1) - AHEAD)

    alone = replace(claimed, inflight=(mine,))
    assert verdict(alone) is Verdict.RUN
    assert verdict(claimed, {first.id}) is Verdict.RUN  # the one before settled, held here
    assert verdict(None) is Verdict.GONE  # deleted
    assert verdict(replace(alone, inflight=())) is Verdict.GONE  # given back or taken over
    taken = replace(mine, owner="other")
    assert verdict(replace(alone, inflight=(taken,))) is Verdict.GONE
    assert verdict(replace(alone, enabled=False, updated_at=later)) is Verdict.RELEASE
    rescheduled = replace(alone, next_run_at=now + timedelta(seconds=5), updated_at=later)
    assert verdict(rescheduled) is Verdict.RELEASE
    assert verdict(replace(alone, updated_at=later, endpoint="x")) is Verdict.RUN  # new request
    # Another process claimed the job's next tick meanwhile (no change of the job): runs.
    assert verdict(replace(alone, next_run_at=now + timedelta(seconds=4))) is Verdict.RUN
    # FORBID: the tick before still in flight (running, or a waiting retry).
    assert verdict(claimed) is Verdict.SKIP
    assert verdict(claimed, wait=True) is Verdict.WAIT  # our attempt started late: catch up
    allow = replace(claimed, concurrency_policy=ConcurrencyPolicy.ALLOW)
    assert judge(allow, mine, allow, "me", settled_here=set(), must_wait=False,
                 now=now + timedelta(seconds=1)) is Verdict.RUN
    # Taken out more than half its lease late: given back for any process to run.
    assert judge(allow, mine, allow, "me", settled_here=set(), must_wait=False,
                 now=now + timedelta(seconds=1) + PRE_CLAIM_LEASE * 0.6) is Verdict.GIVE_BACK


def test_a_claim_lost_to_another_process_claims_nothing_ahead(
    app: Flask, database: Database, clock: FixedClock
) -> None:
    job_id = create_job(app, schedule=EVERY_SECOND)
    mine, _ = worker_with_releases(app)
    document = database.jobs.find_one({"_id": job_id})
    clock.set(document["nextRunAt"] - AHEAD)
    other = make_worker(app, owner="other")
    other.claimer.pre_claim_within = WITHIN
    assert other.claimer.claim([candidate(document)]).won
    claims = mine.claimer.claim([candidate(document)])
    assert claims.won == [] and len(claims.refused) == 1
    stored = database.jobs.find_one({"_id": job_id})
    assert {e["owner"] for e in stored["inflight"]} == {"other"}
    assert len(stored["inflight"]) == 2
    assert ObjectId.is_valid(stored["inflight"][1]["id"])


def test_a_take_over_replaces_a_dead_processs_two_settled_ticks_and_not_an_unrecorded_one(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process holding a tick and the one claimed with it died after both succeeded,
    their releases held for its next claim: a FORBID take-over reads both records and its
    claim replaces both entries. Had the second not run (no record), the tick is skipped,
    as under FORBID for any tick possibly in flight, until that entry's lease ends."""
    FakeTarget(monkeypatch, OK)
    for ran_second in (True, False):
        job_id = create_job(app, schedule=EVERY_SECOND)
        dead, _ = worker_with_releases(app)
        dead.claimer.owner = dead.executor.owner = "dead"
        document = database.jobs.find_one({"_id": job_id})
        clock.set(document["nextRunAt"] - AHEAD)
        [(_, claim)] = dead.claimer.claim([candidate(document)]).won
        dead.claimer.releases.expect(job_id, (claim.entry.id, claim.pre_claimed[0].id),
                                     claim.following)  # fmt: skip
        dead.executor.execute(claim)
        if ran_second:
            dead.executor.execute(Claim(claim.job, claim.pre_claimed[0]))
        clock.set(claim.following + timedelta(milliseconds=600))  # overdue: taken over
        survivor = make_worker(app, owner="survivor")
        claims = survivor.claimer.claim([candidate(database.jobs.find_one({"_id": job_id}))])
        stored = database.jobs.find_one({"_id": job_id})
        if ran_second:
            assert len(claims.won) == 1
            assert [e["owner"] for e in stored["inflight"]] == ["survivor"]
        else:
            assert claims.won == []
            assert stored["skippedTicks"] == 1
            assert [e["owner"] for e in stored["inflight"]] == ["dead", "dead"]


def test_a_pre_claimed_attempt_renews_its_shorter_lease_a_third_of_the_way(
    mongo_db: Database, clock: FixedClock
) -> None:
    """Its lease is ``PRE_CLAIM_LEASE`` from its time, not JOB_LEASE_TIMEOUT: a poll renews it
    once a third of that has passed while it runs (a full-lease attempt waits longer)."""
    config = Config(scheduler_poll_interval_ms=1000, execution_retention_days=0)
    scheduler = compose(config, clock, mongo_db, None, "injected").new_scheduler(owner="me")
    job_id = mongo_db.jobs.insert_one({"schedule": EVERY_SECOND, "enabled": False}).inserted_id
    now = clock.now()
    [pre] = entries(Job.from_document(mongo_db.jobs.find_one({"_id": job_id})), [now], "me",
                    timedelta(milliseconds=config.job_lease_timeout_ms))  # fmt: skip
    full = Entry.scheduled(now, owner="me", now=now, lease=LEASE)
    mongo_db.jobs.update_one({"_id": job_id}, {"$set": {"inflight": [
        pre.to_document(), full.to_document()]}})  # fmt: skip

    def leases() -> list[Any]:
        return [e["dueAt"] for e in mongo_db.jobs.find_one({"_id": job_id})["inflight"]]

    try:
        with ExitStack() as running:
            for entry in (pre, full):
                assert entry.started_at is not None
                running.enter_context(scheduler.running.track(
                    entry.id, job_id, now, 1, now, leased_at=entry.started_at,
                    lease=entry.due_at - entry.started_at))  # fmt: skip
            clock.advance(seconds=3)  # PRE_CLAIM_LEASE is 10 s
            scheduler.poll_once()
            assert leases() == [pre.due_at, full.due_at]  # not yet
            assert PRE_CLAIM_LEASE / 3 < timedelta(seconds=4) < LEASE / 3
            clock.advance(seconds=1)
            scheduler.poll_once()
            assert leases() == [clock.now() + LEASE, full.due_at]  # a full lease from now
    finally:
        scheduler.stop(grace_s=0)
