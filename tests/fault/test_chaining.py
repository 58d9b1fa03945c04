"""Chained jobs with real processes: a scheduler killed (kill -9) after it recorded the
parent's success, before its trigger reached the child, still gives the child exactly one
run: the survivor takes the tick over when its lease runs out and triggers from the
parent's record. The trigger is held by a fail point on ``update`` (the record is an
insert, so it goes through); either it never lands, or it lands late, after the survivor's
own trigger and the child's run (a zombie write), and is recognised by its key."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from bson import ObjectId

from tests.fault.conftest import FailPointFleet
from tests.support.http_target import HttpTarget
from tests.support.processes import api, create_job, owner_pid
from tests.support.store_view import entry_in_state, inflight
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

NEVER = "0 0 0 1 1 *"
LEASE_S = 3.0
HOLD_MS = 8000  # how long the fail point holds the victim's trigger
SETTINGS = {"JOB_LEASE_TIMEOUT": int(LEASE_S * 1000), "SCHEDULER_POLL_INTERVAL": 300}


@pytest.mark.parametrize("late_write", [False, True], ids=["trigger-lost", "trigger-late"])
def test_kill_9_between_the_parents_settlement_and_its_trigger_yields_one_child_run(
    start_fail_point_fleet: Callable[..., FailPointFleet], target: HttpTarget, late_write: bool
) -> None:
    fleet = start_fail_point_fleet(**SETTINGS)
    db = fleet.db
    target.respond("/parent", 200, body="made", delay_s=1.0)  # time to arm the fail point
    child = create_job(fleet.url, schedule=NEVER, endpoint=target.url("/child"),
                       body={"status": "{{parent.status}}"})  # fmt: skip
    parent = create_job(fleet.url, schedule=NEVER,
                        endpoint=target.url("/parent"), onSuccess=[child])  # fmt: skip
    assert api(fleet.url, "POST", f"/api/jobs/{parent}/run").status_code == 202
    entry = wait_until(lambda: entry_in_state(db, parent, "running"), 10)

    # Hold every update (the trigger, the victim's lease renewals; nothing else writes
    # now) while the attempt's record, an insert, goes through; then kill its process.
    hold = {"failCommands": ["update"], "blockConnection": True, "blockTimeMS": HOLD_MS}
    if not late_write:
        hold["errorCode"] = 2  # the held write then fails: it never lands
    fleet.fail_point("alwaysOn", hold)
    wait_until(lambda: db.job_executions.find_one({"jobId": ObjectId(parent)}), 10,
               interval_s=0.01)  # fmt: skip
    victim = fleet.group.holder_of(entry["owner"])
    victim.kill_scheduler(owner_pid(entry["owner"]))
    fleet.fail_point_off()
    killed_at = time.monotonic()
    assert db.jobs.find_one({"_id": ObjectId(child)}).get("chainKeys") is None

    # The survivor takes the parent's tick over, triggers the child from the record,
    # and releases the tick; the child runs once.
    [run] = target.wait_for_requests("/child", 1, timeout_s=LEASE_S + 15)
    assert run.json() == {"status": "success"}
    wait_until(lambda: not inflight(db, parent) and not inflight(db, child), 15,
               message="both ticks settled")  # fmt: skip
    # The held write (late_write: it lands now, after the child ran) and any second
    # trigger or re-delivery would have happened by now.
    time.sleep(max(0.0, HOLD_MS / 1000 + 2 * LEASE_S - (time.monotonic() - killed_at)))

    assert len(target.requests_for("/child")) == 1
    assert len(target.requests_for("/parent")) == 1  # settled from its record, not re-run
    [record] = db.job_executions.find({"jobId": ObjectId(child)})
    assert record["triggeredBy"]["jobId"] == ObjectId(parent)
    assert record["status"] == "success"
    assert len(db.jobs.find_one({"_id": ObjectId(child)})["chainKeys"]) == 1
    assert not inflight(db, child)
    [survivor] = [p for p in fleet.group.processes if p.kind == "scheduler" and p is not victim]
    assert survivor.log_count("triggered 1 chained run") == 1
    assert victim.log_count("chained run") == 0
    assert fleet.database.alive()
