"""Dead letters with real processes: one alert per dead letter however many processes run,
and one dead letter per tick when the process settling it is killed (kill -9) between the
record of its last failed attempt and the dead letter."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.fault.conftest import FailPointFleet, FleetFactory
from tests.support.http_target import HttpTarget
from tests.support.processes import create_job, owner_pid, run_now
from tests.support.store_view import entry_in_state, inflight
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

NEVER = "0 0 0 1 1 *"
LEASE_S = 3.0
SETTINGS = {"JOB_LEASE_TIMEOUT": int(LEASE_S * 1000), "SCHEDULER_POLL_INTERVAL": 300}


def test_each_dead_letter_is_announced_once_with_two_processes(
    start_fleet: FleetFactory, target: HttpTarget, wire_db: Database
) -> None:
    fleet = start_fleet("cli", ALERT_WEBHOOK_URL=target.url("/alerts"), **SETTINGS)
    target.respond("/bad", 400)
    jobs: list[str] = []
    # Manual runs go to whichever poller sees them first: spaced out, in rounds until both
    # processes have dead-lettered some (else the test would show little).
    for _ in range(5):
        for _ in range(6):
            alert_endpoint = target.url("/job-alerts") if not jobs else None
            job_id = create_job(fleet.url, schedule=NEVER, endpoint=target.url("/bad"),
                                retryAttempts=0, alertEndpoint=alert_endpoint)  # fmt: skip
            jobs.append(job_id)
            run_now(fleet.url, job_id)
            time.sleep(0.15)
        wait_until(lambda: wire_db.dead_letters.count_documents({"alert.state": "sent"})
                   == len(jobs), 30, message="the dead letters, their alerts sent")  # fmt: skip
        if len({doc["alert"]["owner"] for doc in wire_db.dead_letters.find()}) == 2:
            break
    time.sleep(1.0)  # a second POST of any of them would arrive by now

    alerts = target.requests_for("/alerts")
    ids = Counter(request.json()["deadLetter"]["deadLetterId"] for request in alerts)
    assert sorted(ids) == sorted(str(doc["_id"]) for doc in wire_db.dead_letters.find())
    assert set(ids.values()) == {1}
    assert {request.json()["type"] for request in alerts} == {"tick.dead_lettered"}
    assert {request.header("Idempotency-Key") for request in alerts} == set(ids)
    [job_alert] = target.requests_for("/job-alerts")
    assert job_alert.json()["deadLetter"]["jobId"] == jobs[0]
    owners = {doc["alert"]["owner"] for doc in wire_db.dead_letters.find()}
    assert len(owners) == 2, "both processes dead-lettered ticks"


def test_kill_9_between_the_last_failed_attempt_and_its_dead_letter_yields_exactly_one(
    start_fail_point_fleet: Callable[..., FailPointFleet], target: HttpTarget
) -> None:
    fleet = start_fail_point_fleet(**SETTINGS)
    db = fleet.db
    target.respond("/fail", 500, delay_s=1.0)  # time to arm the fail point
    job_id = create_job(fleet.url, schedule=NEVER, endpoint=target.url("/fail"),
                        retryAttempts=2, retryDelay=100)  # fmt: skip
    run_now(fleet.url, job_id)

    target.wait_for_requests("/fail", 3, timeout_s=15)  # the last allowed attempt
    entry = wait_until(lambda: entry_in_state(db, job_id, "running"), 5)
    assert entry["attempt"] == 3
    # Let the attempt's record through, then hold the next insert (the dead letter).
    fleet.fail_point({"skip": 1, "times": 1}, {
        "failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 8000})
    wait_until(lambda: db.job_executions.find_one({"jobId": ObjectId(job_id), "attempt": 3}),
               5, interval_s=0.01)  # fmt: skip
    victim = fleet.group.holder_of(entry["owner"])
    victim.kill_scheduler(owner_pid(entry["owner"]))

    # The survivor takes the tick over once the lease runs out, and settles it from the
    # record: the dead letter, written once, and the tick released; no fourth attempt.
    wait_until(lambda: not inflight(db, job_id), LEASE_S + 10, message="the tick released")
    time.sleep(LEASE_S)  # a second settlement (or re-delivery) would have happened by now
    letters = list(db.dead_letters.find({"jobId": ObjectId(job_id)}))
    assert len(letters) == 1
    assert (letters[0]["attempts"], letters[0]["state"]) == (3, "dead")
    assert len(target.requests_for("/fail")) == 3
    records = db.job_executions.find({"jobId": ObjectId(job_id)}, sort=[("attempt", 1)])
    assert [(r["attempt"], r["deadLettered"]) for r in records] == [
        (1, False), (2, False), (3, True)]  # fmt: skip
    # Written by the survivor (the victim's insert was still held when it died).
    [survivor] = [p for p in fleet.group.processes if p.kind == "scheduler" and p is not victim]
    assert survivor.log_count("dead-lettered after 3 attempts") == 1
    assert victim.log_count("dead-lettered") == 0
    assert fleet.database.alive()
