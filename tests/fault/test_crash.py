"""kill -9 of a service process: its ticks are re-delivered (AT_LEAST_ONCE) or closed as
failures (AT_MOST_ONCE) by the processes that live on, once the dead one's lease runs out.

Each test runs a tick on a fleet of two scheduler instances (see ``conftest.py``), finds
which instance holds it from the claim's ``owner`` in the database, and kills that one.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pymongo.database import Database

from scheduler_service.scheduler.claimer import ORPHAN_MESSAGE
from tests.fault.conftest import FleetFactory
from tests.support.http_target import HttpTarget
from tests.support.processes import create_job, owner_pid, run_now
from tests.support.store_view import entry_in_state, executions, inflight, settled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

NEVER = "0 0 0 1 1 *"  # once a year: only the manual run fires
LEASE_S = 3.0
POLL_S = 0.3
CLOCK_SLACK = timedelta(milliseconds=50)  # one machine, one clock: only rounding
# After a process dies: the rest of its lease, one poll, and room for a busy 2-core machine.
REDELIVERY_BOUND_S = LEASE_S + POLL_S + 2.5
SETTINGS = {"JOB_LEASE_TIMEOUT": int(LEASE_S * 1000), "SCHEDULER_POLL_INTERVAL": int(POLL_S * 1000)}


@pytest.mark.parametrize("kind", ["cli", "gunicorn"])
def test_kill_9_mid_attempt_redelivers_once_with_the_same_key(
    kind: str, start_fleet: FleetFactory, target: HttpTarget, wire_db: Database
) -> None:
    fleet = start_fleet(kind, **SETTINGS)
    target.hang("/slow", 60)  # the first attempt is still waiting when its process dies
    job_id = create_job(fleet.url, schedule=NEVER, endpoint=target.url("/slow"), retryAttempts=0)
    run_now(fleet.url, job_id)

    [first] = target.wait_for_requests("/slow", 1, timeout_s=10)
    key = first.header("Idempotency-Key")
    assert first.header("X-Scheduler-Attempt") == "1"
    entry = wait_until(lambda: entry_in_state(wire_db, job_id, "running"), 5)
    victim = fleet.holder_of(entry["owner"])
    target.respond("/slow", 200)  # the re-delivery is answered at once
    lease_seen = entry["dueAt"]  # the lease as it stood before the kill (renewals only extend it)
    victim.kill_scheduler(owner_pid(entry["owner"]))
    killed_at = time.monotonic()

    requests = target.wait_for_requests("/slow", 2, timeout_s=REDELIVERY_BOUND_S + 2)
    second = requests[1]
    assert second.monotonic - killed_at <= REDELIVERY_BOUND_S
    assert second.received_at >= lease_seen - CLOCK_SLACK, "re-delivered before the lease ended"
    assert second.header("Idempotency-Key") == key
    assert second.header("X-Scheduler-Scheduled-At") == first.header("X-Scheduler-Scheduled-At")
    assert second.header("X-Scheduler-Attempt") == "2"

    orphan, redelivery = settled(wire_db, job_id, 2)
    assert (orphan["attempt"], orphan["status"]) == (1, "failure")
    assert orphan["errorMessage"] == ORPHAN_MESSAGE
    assert orphan["completedAt"] is not None
    assert (redelivery["attempt"], redelivery["status"]) == (2, "success")
    assert redelivery["responseCode"] == 200
    assert redelivery["scheduledAt"] == orphan["scheduledAt"]
    # Nothing of the tick is left in flight (settled() checked), so nothing can re-deliver
    # it again; a bounded look (three polls) confirms that no third request is on its way.
    time.sleep(3 * POLL_S)
    assert [r.header("Idempotency-Key") for r in target.requests_for("/slow")] == [key, key]
    assert len(executions(wire_db, job_id)) == 2


def test_kill_9_while_a_retry_waits_the_retry_still_happens(
    start_fleet: FleetFactory, target: HttpTarget, wire_db: Database
) -> None:
    fleet = start_fleet("cli", **SETTINGS)
    # The first attempt fails slowly (500 after 1 s), so the test sees who runs it.
    target.respond("/flaky", 500, delay_s=1.0)
    job_id = create_job(
        fleet.url, schedule=NEVER, endpoint=target.url("/flaky"), retryAttempts=2,
        retryDelay=2000,
    )  # fmt: skip
    run_now(fleet.url, job_id)

    [first] = target.wait_for_requests("/flaky", 1, timeout_s=10)
    running = wait_until(lambda: entry_in_state(wire_db, job_id, "running"), 5)
    victim = fleet.holder_of(running["owner"])
    target.respond("/flaky", 200)
    waiting = wait_until(lambda: entry_in_state(wire_db, job_id, "waiting"), 5,
                         message="the retry to be scheduled")  # fmt: skip
    assert waiting["attempt"] == 2 and waiting["owner"] is None
    victim.kill_scheduler(owner_pid(running["owner"]))
    assert victim.alive() is False

    requests = target.wait_for_requests("/flaky", 2, timeout_s=10)
    retry = requests[1]
    assert retry.header("Idempotency-Key") == first.header("Idempotency-Key")
    assert retry.header("X-Scheduler-Attempt") == "2"
    # The backoff is kept: not before the retry's due time, and within a poll or so of it.
    assert retry.received_at >= waiting["dueAt"] - CLOCK_SLACK
    assert retry.received_at <= waiting["dueAt"] + timedelta(seconds=POLL_S + 1.0)

    failed, succeeded = settled(wire_db, job_id, 2)
    assert (failed["attempt"], failed["status"], failed["responseCode"]) == (1, "failure", 500)
    assert (succeeded["attempt"], succeeded["status"]) == (2, "success")
    assert len(target.requests_for("/flaky")) == 2


def test_at_most_once_is_never_attempted_twice_after_kill_9(
    start_fleet: FleetFactory, target: HttpTarget, wire_db: Database
) -> None:
    fleet = start_fleet("gunicorn", **SETTINGS)
    target.hang("/once", 60)
    job_id = create_job(
        fleet.url, schedule=NEVER, endpoint=target.url("/once"), executionType="AT_MOST_ONCE",
        retryAttempts=3, retryDelay=0,
    )  # fmt: skip
    run_now(fleet.url, job_id)

    [only] = target.wait_for_requests("/once", 1, timeout_s=10)
    entry = wait_until(lambda: entry_in_state(wire_db, job_id, "running"), 5)
    target.respond("/once", 200)  # were it re-sent, it would succeed: the test would see it
    fleet.holder_of(entry["owner"]).kill_scheduler(owner_pid(entry["owner"]))
    killed_at = time.monotonic()

    [closed] = settled(wire_db, job_id, 1, timeout_s=REDELIVERY_BOUND_S + 2)
    assert time.monotonic() - killed_at <= REDELIVERY_BOUND_S
    assert (closed["attempt"], closed["status"]) == (1, "failure")
    assert "process running it stopped" in closed["errorMessage"]
    assert inflight(wire_db, job_id) == []
    # The tick is settled and gone from the database; a further lease plus a poll (bounded)
    # shows that no process sends it again.
    time.sleep(LEASE_S + POLL_S)
    assert [r.header("Idempotency-Key") for r in target.requests_for("/once")] == [
        only.header("Idempotency-Key")
    ]
    assert len(executions(wire_db, job_id)) == 1
