"""Chained jobs in one process (mongomock, fake attempts, an injected clock): what a
parent's tick triggers, what the child's run sends and records, and a trigger applied again
by a take-over. The wire tests (tests/integration/test_chaining_wire.py) use a real target."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from scheduler_service.clock import FixedClock, iso_utc
from scheduler_service.delivery.payload import chain_key
from scheduler_service.records import Entry, ExecutionRecord
from scheduler_service.scheduler.chaining import MAX_DEPTH, Chaining
from scheduler_service.stores.chains import ChainStore
from scheduler_service.stores.job_counts import JobCountStore
from tests.support.settling import (
    OK,
    FakeTarget,
    create_job,
    due_entries,
    failure,
    run_now,
    run_until_settled,
)
from tests.support.workers import candidate, make_worker
from tests.support.write_count import count_writes

CHILD_BODY = {
    "parent": "{{parent.jobId}}", "tick": "{{parent.scheduledAt}}",
    "status": "{{parent.status}}", "code": "{{parent.responseCode}}",
    "body": "{{parent.responseBody}}",
    "line": "{{parent.status}} with {{parent.responseCode}} at {{timestamp}}",
    "{{parent.status}}": "keys are never rendered",
}  # fmt: skip


def test_a_success_runs_each_on_success_job_once_with_the_parents_outcome(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, OK)
    child = create_job(app, body=CHILD_BODY, enabled=False)  # disabled: runs all the same
    other = create_job(app, endpoint="https://example.com/other")
    failing_only = create_job(app, endpoint="https://example.com/failure")
    parent = create_job(app, onSuccess=[str(child), str(other)], onFailure=[str(failing_only)])
    tick = clock.now()
    run_now(app, parent)
    run_until_settled(app, parent, clock)

    [record] = database.job_executions.find({"jobId": parent})
    assert record["triggers"] == [child, other]  # written with the settlement
    assert [e["trigger"]["key"] for e in due_entries(database, child)] == [
        chain_key(str(child), "onSuccess", str(parent), tick)]  # fmt: skip
    assert list(due_entries(database, failing_only)) == []
    clock.advance(seconds=1)
    run_until_settled(app, child, clock)
    run_until_settled(app, other, clock)

    assert [r.url for r in target.requests] == ["https://example.com/hook"] * 2 + [
        "https://example.com/other"]  # fmt: skip
    sent = target.requests[1]
    assert sent.body == {
        "parent": str(parent), "tick": iso_utc(tick), "status": "success", "code": 200,
        "body": "ok", "line": f"success with 200 at {iso_utc(sent_tick(database, child))}",
        "{{parent.status}}": "keys are never rendered",
    }  # fmt: skip
    assert sent.headers["Idempotency-Key"] == chain_key(str(child), "onSuccess", str(parent),
                                                        tick)  # fmt: skip
    [child_record] = database.job_executions.find({"jobId": child})
    assert child_record["triggeredBy"] == {"jobId": parent, "scheduledAt": tick}
    answer = app.test_client().get(f"/api/jobs/{child}/executions").get_json()
    assert answer["data"][0]["triggeredBy"] == {"jobId": str(parent), "scheduledAt": iso_utc(tick)}
    parent_answer = app.test_client().get(f"/api/jobs/{parent}/executions").get_json()
    assert parent_answer["data"][0]["triggeredBy"] is None


def sent_tick(database: Database, job_id: ObjectId) -> Any:
    return database.job_executions.find_one({"jobId": job_id})["scheduledAt"]


def test_a_dead_lettered_tick_runs_each_on_failure_job_and_retries_trigger_nothing(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, failure(500), failure(503), OK)
    child = create_job(app, body={"code": "{{parent.responseCode}}", "s": "{{parent.status}}"})
    parent = create_job(app, retryAttempts=1, onFailure=[str(child)],
                        endpoint="https://example.com/parent")  # fmt: skip
    run_now(app, parent)
    run_until_settled(app, parent, clock)  # attempts 1 and 2 fail: dead-lettered

    records = list(database.job_executions.find({"jobId": parent}, sort=[("attempt", 1)]))
    assert [r.get("triggers") for r in records] == [None, [child]]
    run_until_settled(app, child, clock)
    assert target.requests[-1].body == {"code": 503, "s": "failure"}
    assert len(target.requests) == 3


def test_a_replay_that_succeeds_runs_the_on_success_jobs(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, failure(400))
    on_success = create_job(app, endpoint="https://example.com/success")
    on_failure = create_job(app, endpoint="https://example.com/failure")
    parent = create_job(app, onSuccess=[str(on_success)], onFailure=[str(on_failure)])
    tick = clock.now()
    run_now(app, parent)
    run_until_settled(app, parent, clock)
    run_until_settled(app, on_failure, clock)
    [letter] = database.dead_letters.find({"jobId": parent})
    client = app.test_client()

    assert client.post(f"/api/dead-letters/{letter['_id']}/replay").status_code == 202
    run_until_settled(app, parent, clock)  # the replay fails again: nothing more triggered
    assert list(due_entries(database, on_failure)) == []
    target.outcomes = [OK]
    assert client.post(f"/api/dead-letters/{letter['_id']}/replay").status_code == 202
    run_until_settled(app, parent, clock)
    [entry] = due_entries(database, on_success)
    assert (entry["trigger"]["scheduledAt"], entry["trigger"]["status"]) == (tick, "success")
    run_until_settled(app, on_success, clock)
    assert [r.url.rsplit("/", 1)[1] for r in target.requests] == [
        "hook", "failure", "hook", "hook", "success"]  # fmt: skip


def test_a_take_over_of_a_recorded_success_triggers_once_even_after_the_child_ran(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process recorded a chained success and died: before triggering, or after it
    (its child may even have run since). The take-over triggers from the record: once."""
    target = FakeTarget(monkeypatch, OK)
    child = create_job(app, endpoint="https://example.com/child")
    parent = create_job(app, onSuccess=[str(child)])
    tick = clock.now()
    record = {"status": "success", "responseCode": 200, "responseBody": "ok",
              "triggers": [child]}  # fmt: skip
    for applied_before in (False, True):
        orphan_with_record(database, parent, clock, tick, record)
        if applied_before:  # it triggered, and the child's run ended, before the take-over
            stored = database.job_executions.find_one({"jobId": parent})
            [entry] = due_entries(database, parent)
            Chaining(ChainStore(database)).trigger(ExecutionRecord.from_document(stored),
                                                   Entry.from_document(entry),
                                                   clock.now())  # fmt: skip
            run_until_settled(app, child, clock)
            assert len(target.requests) == 1
        run_until_settled(app, parent, clock)  # the take-over: settles from the record
        run_until_settled(app, child, clock)
        assert len(target.requests) == 1, "one run of the child, and the parent not re-run"
        database.job_executions.delete_many({"jobId": parent})


def orphan_with_record(database: Database, job_id: ObjectId, clock: FixedClock, tick: Any,
                       record: dict[str, Any]) -> None:  # fmt: skip
    entry = {"id": ObjectId(), "scheduledAt": tick, "attempt": 1, "state": "running",
             "dueAt": clock.now() + timedelta(seconds=60), "owner": "dead", "manual": True,
             "startedAt": tick}  # fmt: skip
    database.jobs.update_one({"_id": job_id}, {"$push": {"inflight": entry}})
    database.job_executions.insert_one({"jobId": job_id, "scheduledAt": tick, "attempt": 1,
                                        "startedAt": tick, "completedAt": tick, **record})
    clock.set(entry["dueAt"] + timedelta(seconds=1))


def test_a_replay_of_a_chained_runs_dead_letter_sends_the_same_key_and_body(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget(monkeypatch, OK, failure(400), OK)
    child = create_job(app, endpoint="https://example.com/child",
                       body={"code": "{{parent.responseCode}}"})  # fmt: skip
    parent = create_job(app, onSuccess=[str(child)])
    run_now(app, parent)
    run_until_settled(app, parent, clock)
    run_until_settled(app, child, clock)  # 400: dead-lettered
    [letter] = database.dead_letters.find({"jobId": child})
    assert letter["idempotencyKey"] == target.requests[1].headers["Idempotency-Key"]

    answer = app.test_client().post(f"/api/dead-letters/{letter['_id']}/replay")
    assert answer.status_code == 202
    assert "trigger" not in answer.get_json()["data"]
    run_until_settled(app, child, clock)

    first, replayed = target.requests[1:]
    assert replayed.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert replayed.body == first.body == {"code": 200}
    records = list(database.job_executions.find({"jobId": child}, sort=[("attempt", 1)]))
    assert [r["triggeredBy"]["jobId"] for r in records] == [parent, parent]
    assert database.dead_letters.find_one({"_id": letter["_id"]})["state"] == "replayed"


def test_an_unchained_tick_writes_nothing_more_and_a_chained_one_a_write_per_child(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTarget(monkeypatch, OK)
    writes = count_writes(monkeypatch, database)
    children = [create_job(app, endpoint=f"https://example.com/c{n}") for n in range(2)]
    plain = create_job(app)
    chained = create_job(app, onSuccess=[str(child) for child in children],
                         onFailure=[str(children[0])])  # fmt: skip

    def tick_writes(job_id: ObjectId) -> int:
        run_now(app, job_id)
        # The creates' counts are written by a timer within 0.1 s: now, not in the window.
        JobCountStore(database).pending.flush()
        writes.clear()
        run_until_settled(app, job_id, clock)
        # Not the creates' counts, flushed by a timer any time.
        return sum(1 for collection in writes if collection != "job_counts")

    plain_writes = tick_writes(plain)
    assert plain_writes >= 3  # claim, record, release (at least)
    assert tick_writes(chained) == plain_writes + len(children)
    [plain_record] = database.job_executions.find({"jobId": plain})
    assert "triggers" not in plain_record and "triggeredBy" not in plain_record
    assert "onSuccess" not in database.jobs.find_one({"_id": plain})


def test_queued_chained_runs_wake_the_scheduler_and_an_unchained_tick_does_not(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chained run is due at once, as a manual run is: the settling process polls now
    rather than a poll interval later."""
    FakeTarget(monkeypatch, OK)
    child = create_job(app, endpoint="https://example.com/child")
    plain, parent = create_job(app), create_job(app, onSuccess=[str(child)])
    wake = threading.Event()
    worker = make_worker(app, wake=wake)
    for job_id, woken in ((plain, False), (parent, True)):
        run_now(app, job_id)
        [entry] = due_entries(database, job_id)
        worker.run(candidate(database.jobs.find_one({"_id": job_id}), entry))
        assert wake.is_set() is woken
    assert [e["trigger"]["jobId"] for e in due_entries(database, child)] == [parent]


def test_a_chain_stops_after_max_depth_links(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A cycle that validation could not see (two updates at the same instant) runs at most
    MAX_DEPTH links: each run carries its depth."""
    FakeTarget(monkeypatch, OK)
    first = create_job(app, endpoint="https://example.com/first")
    second = create_job(app, endpoint="https://example.com/second", onSuccess=[str(first)])
    # The cycle's other half, written past validation (as a concurrent update would).
    database.jobs.update_one({"_id": first}, {"$set": {"onSuccess": [second]}})
    run_now(app, first)
    runs = 0
    while (job_id := next((j for j in (first, second) if list(due_entries(database, j))),
                          None)) is not None:  # fmt: skip
        run_until_settled(app, job_id, clock)
        clock.advance(seconds=1)  # each tick its own (the chain key is per parent tick)
        runs += 1
        assert runs <= MAX_DEPTH + 1
    assert runs == MAX_DEPTH + 1  # the manual run, then MAX_DEPTH triggered ones
    triggered = database.job_executions.count_documents({"triggeredBy": {"$ne": None}})
    assert triggered == MAX_DEPTH
    assert "links down a chain" in caplog.text


def test_runs_triggered_in_the_same_millisecond_get_ticks_of_their_own(
    app: Flask, database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parents settling at the same instant, and the child's own next tick at that very
    time: each run has its own (child, scheduledAt), as the records' unique key needs."""
    target = FakeTarget(monkeypatch, OK)
    now = clock.now()
    child = create_job(app, endpoint="https://example.com/child")
    database.jobs.update_one({"_id": child}, {"$set": {"nextTickAt": now}})  # its tick: now
    parents = [create_job(app, onSuccess=[str(child)]) for _ in range(2)]
    for parent in parents:
        run_now(app, parent)
        run_until_settled(app, parent, clock)
    ticks = [e["scheduledAt"] for e in due_entries(database, child)]
    assert ticks == [now + timedelta(milliseconds=1), now + timedelta(milliseconds=2)]
    worker = make_worker(app)
    for entry in list(due_entries(database, child)):
        worker.run(candidate(database.jobs.find_one({"_id": child}), entry))
    records = list(database.job_executions.find({"jobId": child}))
    assert sorted(r["triggeredBy"]["jobId"] for r in records) == sorted(parents)
    assert len([r for r in target.requests if r.url.endswith("/child")]) == 2
