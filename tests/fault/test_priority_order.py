"""Priorities with real processes on the wire server: 20 low- (1) and 20 high-priority (10)
one-off jobs due in the same second, a target that takes 50 ms, ``MAX_CONCURRENT_JOBS=1``.

One process starts every high-priority request before any low-priority one. Two processes
each keep that order among the ticks they run; nothing orders the two between them (a
process runs its own low-priority ticks once its own high ones are done, while the other
may still run a high one), which the README says.

The jobs are all created before the schedulers start, so each process's first poll sees
all 40 at once: none can have started before the high-priority ones were seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.fault.conftest import Fleet, FleetFactory
from tests.support.http_target import HttpTarget, ReceivedRequest
from tests.support.processes import api, owner_pid, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

EACH = 20
TARGET_DELAY_S = 0.05
SETTINGS = {"MAX_CONCURRENT_JOBS": 1, "SCHEDULER_POLL_INTERVAL": 300}


@pytest.fixture
def slow_target() -> Iterator[HttpTarget]:
    with HttpTarget() as target:
        target.respond("/high", delay_s=TARGET_DELAY_S)
        target.respond("/low", delay_s=TARGET_DELAY_S)
        yield target


def create_burst(fleet: Fleet, target: HttpTarget, due_in_s: float) -> dict[str, str]:
    """20 low- then 20 high-priority one-offs, all due at the same instant (the lows made
    first, so neither age nor creation order favours the highs); job id -> path. (A job
    created after that instant is due when created: ``allowPast``.)"""
    due = (datetime.now(UTC) + timedelta(seconds=due_in_s)).replace(microsecond=0)
    paths = {}
    for path, priority in (("/low", 1), ("/high", 10)):
        for _ in range(EACH):
            answer = api(fleet.url, "POST", "/api/jobs", params={"allowPast": "true"},
                         json={"runAt": due.isoformat(), "endpoint": target.url(path),
                               "priority": priority, "retryAttempts": 0})  # fmt: skip
            assert answer.status_code == 201, answer.text
            paths[answer.json()["data"]["jobId"]] = path
    return paths


def start_schedulers(fleet: Fleet, wire_uri: str, count: int) -> None:
    env = service_env(wire_uri, **SETTINGS)
    for number in range(1, count + 1):
        fleet.schedulers.append(fleet.group.scheduler(f"scheduler-{number}", env))
    fleet.group.wait_ready()


def all_delivered(target: HttpTarget) -> list[ReceivedRequest]:
    wait_until(lambda: len(target.requests) >= 2 * EACH, 60, interval_s=0.05,
               message="all 40 requests")  # fmt: skip
    return target.requests


def assert_highs_first(paths: list[str]) -> None:
    highs = [n for n, path in enumerate(paths) if path == "/high"]
    lows = [n for n, path in enumerate(paths) if path == "/low"]
    assert not lows or not highs or max(highs) < min(lows), paths


def test_one_process_starts_every_high_priority_tick_before_any_low_one(
    start_fleet: FleetFactory, wire_uri: str, wire_db: Database, slow_target: HttpTarget
) -> None:
    fleet = start_fleet("cli", schedulers=0)
    paths = create_burst(fleet, slow_target, 1)
    due = min(doc["nextRunAt"] for doc in wire_db.jobs.find({}, ["nextRunAt"]))
    wait_until(lambda: datetime.now(UTC) > due, 10, message="the burst's due time")
    start_schedulers(fleet, wire_uri, 1)
    received = all_delivered(slow_target)
    assert sorted(r.header("X-Scheduler-Job-Id") for r in received) == sorted(paths)
    assert [r.path for r in received] == ["/high"] * EACH + ["/low"] * EACH


def test_two_processes_each_start_their_high_priority_ticks_first(
    start_fleet: FleetFactory, wire_uri: str, wire_db: Database, slow_target: HttpTarget
) -> None:
    fleet = start_fleet("cli", schedulers=0)
    # Due once both have started (typically): both then take part.
    paths = create_burst(fleet, slow_target, 6)
    start_schedulers(fleet, wire_uri, 2)
    received = all_delivered(slow_target)
    assert sorted(r.header("X-Scheduler-Job-Id") for r in received) == sorted(paths)
    # Who ran each tick: the claim of a one-off's only tick leaves its owner in claimedBy.
    claimed_by = {str(doc["_id"]): doc["claimedBy"] for doc in wire_db.jobs.find(
        {"_id": {"$in": [ObjectId(job_id) for job_id in paths]}}, ["claimedBy"])}
    by_process: dict[int, list[str]] = {}
    for request in received:
        owner = claimed_by[request.header("X-Scheduler-Job-Id") or ""]
        by_process.setdefault(owner_pid(owner), []).append(request.path)
    assert set(by_process) == {process.pid for process in fleet.schedulers}, by_process
    for order in by_process.values():
        assert_highs_first(order)
