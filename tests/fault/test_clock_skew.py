"""A scheduler process whose wall clock runs 90 s ahead (``tests/chaos/clock_shim``): it
schedules by the database's clock, so it never takes a live process's lease, fires ticks
on time, and reports the skew in health.

Before issue 13 each process judged leases by its own clock: this process saw every other
process's lease 90 s expired, took the attempt over while it still ran and sent it again.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pymongo.database import Database

from tests.chaos.clock_shim import build, skewed_env
from tests.support.http_target import HttpTarget
from tests.support.processes import ProcessGroup, api, create_job, owner_pid, service_env
from tests.support.store_view import entry_in_state
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

SKEW_S = 90
LEASE_MS = 3000
NEVER = "0 0 0 1 1 *"


def test_a_process_90_s_ahead_keeps_off_a_live_lease_and_fires_on_time(
    group: ProcessGroup, target: HttpTarget, wire_uri: str, wire_db: Database, tmp_path: Path
) -> None:
    settings = {"JOB_LEASE_TIMEOUT": LEASE_MS, "SCHEDULER_POLL_INTERVAL": 300}
    honest = group.gunicorn("honest", service_env(wire_uri, **settings))
    group.wait_ready()
    target.hang("/slow", 4 * LEASE_MS / 1000)  # the attempt outlives a few leases
    job_id = create_job(honest.base_url, schedule=NEVER, endpoint=target.url("/slow"),
                        retryAttempts=0)  # fmt: skip
    assert api(honest.base_url, "POST", f"/api/jobs/{job_id}/run").status_code == 202
    target.wait_for_requests("/slow", 1, timeout_s=10)
    entry = wait_until(lambda: entry_in_state(wire_db, job_id, "running"), 5)
    assert honest.owns(owner_pid(entry["owner"]))

    env = skewed_env(service_env(wire_uri, **settings), build(tmp_path), SKEW_S)
    ahead = group.gunicorn("ahead", env)
    group.wait_ready()
    health = api(ahead.base_url, "GET", "/api/observability/health").json()
    assert health["clock"]["measured"] and health["clock"]["skewed"]
    assert abs(health["clock"]["offsetMs"] + SKEW_S * 1000) < 1000
    logged = re.search(r"clock is ([+-][0-9.]+) s off", ahead.log_text())
    assert logged and abs(float(logged.group(1)) - SKEW_S) < 1  # +89.996 is +90 measured

    # The attempt hangs for four leases; the honest process renews its lease meanwhile.
    time.sleep(3 * LEASE_MS / 1000)  # bounded: a take-over would come within a poll
    assert len(target.requests_for("/slow")) == 1, "the skewed process took a live lease"

    ticking = create_job(ahead.base_url, schedule="* * * * * *", endpoint=target.url("/tick"))
    ticks = target.wait_for_requests("/tick", 4, timeout_s=15)
    for request in ticks:  # on time by the true clock: not early, not 90 s late
        scheduled = request.header("X-Scheduler-Scheduled-At")
        assert scheduled is not None
        due = request.received_at.fromisoformat(scheduled.replace("Z", "+00:00"))
        assert due - timedelta(milliseconds=50) <= request.received_at <= due + timedelta(seconds=2)
    assert ticking
