"""kill -9 of a process holding ticks claimed with the ones before (``pre_claims.py``):
nothing is lost. Each job's pre-claimed tick, never started, is re-delivered by the
survivor once its lease (``PRE_CLAIM_LEASE`` at most) ends, as attempt 2 after an
``abandoned`` attempt 1; an ``ALLOW`` job's next ticks are taken over at once (half a poll
interval overdue); a ``FORBID`` job's are not run while that entry may be in flight (the
first skipped by the overlap rule, the rest coalesced by the missed-run policy), and run
again after. No tick is sent twice.

Poll 1 s, lease 8 s: ticks 1 s apart are claimed in pairs (within min(look-ahead 2 s,
lease / 8)); the pre-claimed entry's lease is 8 s. The four jobs share their first tick
(``startAt``), so their pairs are claimed together: jobs created either side of a second's
boundary (slow creates, under load) were paired a second apart for good, and never all held
the same pre-claimed tick.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.scheduler.affinity import TAKEOVER_BACKOFF
from tests.fault.conftest import FleetFactory
from tests.support.processes import create_job, owner_pid, service_env
from tests.support.recording_target import read_records, start_recording_target
from tests.support.waiting import load_scaled, wait_until

pytestmark = pytest.mark.fault

POLL_MS = 1000
LEASE_S = 8
SECOND = timedelta(seconds=1)
WATCH_S = LEASE_S + 9  # whole seconds watched from the pre-claimed tick on


def test_kill_9_between_ticks_claimed_in_pairs_loses_no_tick(
    start_fleet: FleetFactory, wire_uri: str, wire_db: Database, tmp_path: Path
) -> None:
    settings = {"SCHEDULER_POLL_INTERVAL": POLL_MS, "JOB_LEASE_TIMEOUT": LEASE_S * 1000}
    fleet = start_fleet("cli", schedulers=1, **settings)  # the victim: it takes every job
    requests_log = tmp_path / "target.requests"
    _, target_url = start_recording_target(fleet.group, requests_log)
    fleet.group.wait_ready()
    # A whole second by which all four are created (four API calls: slower under load).
    start = datetime.now(UTC).replace(microsecond=0) + math.ceil(load_scaled(2) + 1) * SECOND
    policies = {create_job(fleet.url, schedule="* * * * * *", endpoint=f"{target_url}/tick",
                           concurrencyPolicy=policy, body={"n": n},
                           startAt=start.isoformat()): policy
                for n, policy in enumerate(["ALLOW", "ALLOW", "FORBID", "FORBID"])}  # fmt: skip
    ids = [ObjectId(job_id) for job_id in policies]
    firsts = {d["nextRunAt"].replace(tzinfo=UTC) for d in wire_db.jobs.find({"_id": {"$in": ids}})}
    assert firsts == {start}, f"the jobs were created after their common first tick {start}"

    def paired_owner() -> str | None:
        """The one owner of every job, once each holds a tick claimed with the one before."""
        documents = list(wire_db.jobs.find({"_id": {"$in": ids}}))
        owners = {e["owner"] for d in documents for e in d.get("inflight") or []}
        paired = all(len(d.get("inflight") or []) == 2 for d in documents)
        return owners.pop() if paired and len(owners) == 1 and None not in owners else None

    until_start = (start - datetime.now(UTC)).total_seconds()
    victim = wait_until(paired_owner, max(until_start, 0) + load_scaled(20),
                        message="every job's ticks claimed in pairs by one")  # fmt: skip
    fleet.group.scheduler("survivor", service_env(wire_uri, **settings))
    fleet.group.wait_ready()

    def pre_claimed_tick() -> datetime | None:
        """The tick every job holds claimed with the one before, due in 0.2-0.7 s: the
        victim's attempts of the tick before are over (the target answers at once)."""
        now, ticks = datetime.now(UTC), set()
        for document in wire_db.jobs.find({"_id": {"$in": ids}}):
            entries = document.get("inflight") or []
            later = [e for e in entries if e["owner"] == victim and timedelta(seconds=0.2)
                     < e["startedAt"].replace(tzinfo=UTC) - now < timedelta(seconds=0.7)]
            # The tick before has started: ``later`` is the pre-claimed one, not the first of
            # a pair just claimed ahead (``dispatcher.AHEAD``, 300 ms, before its time).
            started = [e for e in entries if e["startedAt"].replace(tzinfo=UTC) <= now]
            if len(entries) != 2 or len(later) != 1 or len(started) != 1:
                return None
            ticks.add(later[0]["scheduledAt"].replace(tzinfo=UTC))
        return ticks.pop() if len(ticks) == 1 else None

    first = wait_until(pre_claimed_tick, load_scaled(20), interval_s=0.05,
                       message="every job's next tick claimed with the one before")  # fmt: skip
    fleet.holder_of(victim).kill_scheduler(owner_pid(victim))

    window = [first + n * SECOND for n in range(WATCH_S)]

    def sent() -> set[tuple[str, datetime]]:
        return {(r.job_id, r.scheduled) for r in read_records(requests_log)}

    allow = {job_id for job_id, policy in policies.items() if policy == "ALLOW"}
    forbid = set(policies) - allow
    resumed = [t for t in window if t > first + LEASE_S * SECOND]

    def owed() -> set[tuple[str, object]]:
        """ALLOW: every tick of the window; FORBID: the pre-claimed one (re-delivered), and
        one after its lease (the job runs again)."""
        now_sent = sent()
        wanted = {(j, t) for j in allow for t in window} | {(j, first) for j in forbid}
        wanted |= {(j, "resumed") for j in forbid}
        got = now_sent | {(j, "resumed") for j in forbid
                          if any((j, t) in now_sent for t in resumed)}  # fmt: skip
        return wanted - got

    try:
        wait_until(lambda: not owed(), WATCH_S + 10, interval_s=0.3,
                   message="every owed tick delivered")  # fmt: skip
    except AssertionError:
        missing = sorted((policies[j], str(t)) for j, t in owed())
        raise AssertionError(f"not delivered: {missing}") from None
    time.sleep(1.0)  # bounded: a duplicate of the last second would arrive by now
    records = [r for r in read_records(requests_log) if first <= r.scheduled <= window[-1]]
    counts = Counter((r.job_id, r.scheduled) for r in records)
    assert max(counts.values()) == 1, "a tick was delivered twice"
    for job_id in policies:
        successes = wire_db.job_executions.find({"jobId": ObjectId(job_id), "status": "success"})
        history = {r["scheduledAt"].replace(tzinfo=UTC): r["attempt"] for r in successes}
        assert history[first] == 2, "the pre-claimed tick is re-delivered as attempt 2"
    for job_id in forbid:
        # Not run while the pre-claimed entry may be in flight: the first skipped by the
        # overlap rule; the take-over, lost, then leaves the job to its (dead) process for
        # TAKEOVER_BACKOFF intervals (``affinity.py``), and the next run coalesces the rest.
        back = min(t for t in window if (job_id, t) in counts and t > first)
        assert first + 2 * SECOND < back <= first + (LEASE_S + TAKEOVER_BACKOFF + 2) * SECOND
        assert wire_db.jobs.find_one({"_id": ObjectId(job_id)}).get("skippedTicks", 0) >= 1
