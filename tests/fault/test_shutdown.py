"""SIGTERM during an attempt: the attempt finishes within the grace period, is recorded as a
success, and is not re-delivered by the process that lives on."""

from __future__ import annotations

import re
import signal
import time

import pytest
from pymongo.database import Database

from tests.fault.conftest import FleetFactory
from tests.support.http_target import HttpTarget
from tests.support.processes import api, create_job
from tests.support.store_view import entry_in_state, executions, inflight, settled
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

NEVER = "0 0 0 1 1 *"
LEASE_S = 3.0
POLL_S = 0.3
HANG_S = 2.0
GRACE_S = 8.0


@pytest.mark.parametrize("kind", ["cli", "gunicorn", "plain-gunicorn"])
def test_sigterm_lets_the_attempt_finish_and_it_is_not_redelivered(
    kind: str, start_fleet: FleetFactory, target: HttpTarget, wire_db: Database
) -> None:
    fleet = start_fleet(
        kind,
        JOB_LEASE_TIMEOUT=int(LEASE_S * 1000),
        SCHEDULER_POLL_INTERVAL=int(POLL_S * 1000),
        SHUTDOWN_GRACE=int(GRACE_S * 1000),
    )
    target.hang("/slow", HANG_S)
    job_id = create_job(fleet.url, schedule=NEVER, endpoint=target.url("/slow"), retryAttempts=0)
    assert api(fleet.url, "POST", f"/api/jobs/{job_id}/run").status_code == 202

    [request] = target.wait_for_requests("/slow", 1, timeout_s=10)
    entry = wait_until(lambda: entry_in_state(wire_db, job_id, "running"), 5)
    holder = fleet.holder_of(entry["owner"])
    holder.signal(signal.SIGTERM)  # gunicorn: the master, which stops its workers gracefully
    terminated_at = time.monotonic()

    assert holder.wait_exit(GRACE_S + 5) == 0
    exited_after = time.monotonic() - terminated_at
    [row] = settled(wire_db, job_id, 1, timeout_s=1)  # recorded before the process exited
    assert (row["attempt"], row["status"], row["responseCode"]) == (1, "success", 200)
    assert row["duration"] >= HANG_S * 1000 - 100
    assert exited_after >= HANG_S - 0.5, "the process did not wait for its attempt"
    log = holder.log_text()
    assert re.search(r"scheduler \S+ stopped", log), "the scheduler did not stop cleanly"
    assert "still running after" not in log

    # The tick is settled; the other instance would re-deliver it only from a stale claim,
    # which would fall due once the lease (3 s) runs out. Wait that long and a poll more
    # (bounded), then check that the target saw the key once.
    time.sleep(LEASE_S + 2 * POLL_S)
    assert [r.header("Idempotency-Key") for r in target.requests_for("/slow")] == [
        request.header("Idempotency-Key")
    ]
    assert len(executions(wire_db, job_id)) == 1
    assert inflight(wire_db, job_id) == []
    assert all(p.alive() for p in fleet.schedulers if p is not holder)
