"""Two gunicorn instances with two workers each on one database: every tick of every job
reaches the target exactly once, counted at the target by job and scheduled time.

The target is ``recording_target`` in its own process (20 requests at the top of every
second would overflow ``HttpTarget``'s listen backlog and cost 1 s SYN retransmits, which
turn into ticks skipped as overlaps: a fault of the test bench, not of the service).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo.database import Database

from tests.support.processes import ProcessGroup, api, create_job, service_env
from tests.support.recording_target import read_records, start_recording_target
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

JOBS = 20
WINDOW_S = 30
SECOND = timedelta(seconds=1)


def test_four_workers_fire_every_tick_exactly_once(
    wire_uri: str, wire_db: Database, group: ProcessGroup, tmp_path: Path
) -> None:  # the database before the group: the processes die before it is dropped
    requests_log = tmp_path / "target.requests"
    _, target_url = start_recording_target(group, requests_log)
    env = service_env(wire_uri, SCHEDULER_POLL_INTERVAL=300, JOB_LEASE_TIMEOUT=4000,
                      JOB_TIMEOUT=5000)  # fmt: skip
    first = group.gunicorn("gunicorn-a", env, workers=2)
    second = group.gunicorn("gunicorn-b", env, workers=2)
    group.wait_ready()  # every worker's scheduler started
    workers = {process.name: process.worker_pids() for process in (first, second)}
    assert all(len(pids) == 2 for pids in workers.values())

    job_ids = [
        create_job(
            (first if n % 2 else second).base_url, schedule="* * * * * *",
            endpoint=f"{target_url}/tick", body={"job": n, "at": "{{timestamp}}"},
        )
        for n in range(JOBS)
    ]  # fmt: skip
    # Observe whole seconds from a little after the last job exists, for WINDOW_S seconds.
    window_start = datetime.now(UTC).replace(microsecond=0) + 2 * SECOND
    window_end = window_start + (WINDOW_S - 1) * SECOND  # inclusive
    expected = {(job_id, window_start + n * SECOND) for job_id in job_ids
                for n in range(WINDOW_S)}  # fmt: skip

    def seen() -> list[tuple[str, datetime]]:
        return [(r.job_id, r.scheduled) for r in read_records(requests_log)]

    # Wait for every tick of the window to arrive (or time out and count the misses).
    deadline_s = (window_end - datetime.now(UTC)).total_seconds() + 5
    with contextlib.suppress(AssertionError):  # reported below, with the exact misses
        wait_until(lambda: expected <= set(seen()), deadline_s, interval_s=0.5)
    time.sleep(1.0)  # bounded: let a duplicate of the window's last second arrive, if any

    records = read_records(requests_log)
    counts = Counter((r.job_id, r.scheduled) for r in records)
    duplicates = {tick: n for tick, n in counts.items() if n > 1}
    missed = sorted(expected - set(counts), key=lambda t: (t[1], t[0]))
    keys = Counter(r.key for r in records)
    in_window = [r for r in records if window_start <= r.scheduled <= window_end]
    lateness = sorted(r.received - r.scheduled.timestamp() for r in in_window)
    print(f"{len(records)} requests, {len(in_window)} in the window of {len(expected)} ticks; "
          f"lateness p50 {lateness[len(lateness) // 2] * 1000:.0f} ms, "
          f"max {lateness[-1] * 1000:.0f} ms")  # fmt: skip
    assert not duplicates, f"{len(duplicates)} ticks fired more than once: {duplicates}"
    assert max(keys.values()) == 1, "an Idempotency-Key was sent twice"
    assert not missed, f"{len(missed)} of {len(expected)} ticks missed: {missed[:20]}"

    stats = api(first.base_url, "GET", "/api/observability/stats").json()["data"]
    assert stats["scheduler"]["skippedTicks"] == 0
    assert wire_db["job_executions"].count_documents({"status": {"$ne": "success"}}) == 0
    assert all(p.alive() for p in group.processes)
    # All four schedulers competed for the jobs throughout: the same workers as at the start
    # (none died and was replaced), each scheduler still running. Which instance ran which
    # job is not asserted: a new job goes to whichever process claims its first tick, and a
    # process that owns none of the due jobs is not seen by the others' balance (README, "A
    # process that owns none of the due jobs is not seen by the others"), so under load one
    # instance may win every first claim and keep them.
    for process in (first, second):
        assert process.worker_pids() == workers[process.name], f"{process.name} lost a worker"
        assert process.log_count(r"scheduler \S+ stopped") == 0, f"{process.name} stopped one"
        health = api(process.base_url, "GET", "/api/observability/health").json()
        assert health["scheduler"]["isRunning"], f"{process.name}'s scheduler stopped"
        print(f"{process.name} ran {process.log_count(r'attempt 1: success')} ticks")
