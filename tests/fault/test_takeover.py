"""kill -9 of the process that a job's ticks stick to: the other process takes the job over
at its next tick, a little late, and no tick is lost or sent twice.

A job's tick is left to the process that claimed its previous one (``claimedBy``) until it
is half a poll interval overdue; this checks that rule against a process that really died,
between two ticks, counted at a recording target.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.fault.conftest import FleetFactory
from tests.support.processes import create_job, owner_pid
from tests.support.recording_target import read_records, start_recording_target
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

JOBS = 6
POLL_MS = 300  # take-over after 150 ms overdue; misfire grace 600 ms
WATCH_S = 6  # whole seconds watched after the kill
SECOND = timedelta(seconds=1)


def test_the_survivor_takes_over_a_killed_processs_jobs_without_losing_a_tick(
    start_fleet: FleetFactory, wire_db: Database, tmp_path: Path
) -> None:
    fleet = start_fleet("cli", SCHEDULER_POLL_INTERVAL=POLL_MS, JOB_LEASE_TIMEOUT=3000)
    requests_log = tmp_path / "target.requests"
    _, target_url = start_recording_target(fleet.group, requests_log)
    fleet.group.wait_ready()
    job_ids = [
        create_job(fleet.url, schedule="* * * * * *", endpoint=f"{target_url}/tick", body={"n": n})
        for n in range(JOBS)
    ]

    def claimers() -> Counter[str]:
        ids = [ObjectId(job_id) for job_id in job_ids]
        return Counter(d.get("claimedBy") for d in wire_db.jobs.find({"_id": {"$in": ids}}))

    def all_claimed() -> Counter[str] | None:
        seen = claimers()
        return seen if None not in seen else None

    owners = wait_until(all_claimed, 10, message="every job claimed once")
    victim_owner = owners.most_common(1)[0][0]
    victims = {
        str(d["_id"]) for d in wire_db.jobs.find({"claimedBy": victim_owner}, projection=["_id"])
    }
    # Kill half-way between two ticks, when the victim's attempts are over (the target answers
    # at once): what is left to take over is its next ticks, not attempts in flight.
    now = datetime.now(UTC)
    kill_at = now.replace(microsecond=500_000) + (2 if now.microsecond >= 400_000 else 1) * SECOND
    time.sleep((kill_at - datetime.now(UTC)).total_seconds())
    fleet.holder_of(victim_owner).kill_scheduler(owner_pid(victim_owner))

    first = kill_at.replace(microsecond=0) + SECOND
    expected = {(job_id, first + n * SECOND) for job_id in job_ids for n in range(WATCH_S)}
    wait_until(
        lambda: expected <= {(r.job_id, r.scheduled) for r in read_records(requests_log)},
        WATCH_S + 5, interval_s=0.3, message="every tick after the kill delivered",
    )  # fmt: skip
    time.sleep(1.0)  # bounded: a duplicate of the last second would arrive by now
    records = [r for r in read_records(requests_log) if r.scheduled >= first]
    counts = Counter((r.job_id, r.scheduled) for r in records)
    assert max(counts.values()) == 1, "a tick was delivered twice"
    taken_over = [r for r in records if r.job_id in victims and r.scheduled == first]
    assert len(taken_over) == len(victims)
    grace_s = 2 * POLL_MS / 1000  # later than this the tick would have been coalesced away
    assert all(r.received - r.scheduled.timestamp() <= grace_s for r in taken_over)
    survivor_owners = set(claimers())
    assert victim_owner not in survivor_owners, "the jobs now stick to the survivor"
