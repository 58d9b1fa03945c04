"""One chaos run: start the cluster, make jobs, strike faults, drain, check the history.

    python -m tests.chaos --duration 600 [--seed N]     (what ``make chaos`` runs)

Prints the fault plan as it goes, then a table per fault and one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from tests.chaos import faults
from tests.chaos.cluster import LEASE_MS, POLL_MS, SKEW_S, Cluster
from tests.chaos.history import JobSpec, Report, check
from tests.chaos.target import read_receipts
from tests.support.processes import ProcessGroup, api
from tests.support.waiting import wait_until

NEVER = "0 0 0 1 1 *"
EVERY_SECOND = "* * * * * *"
# (path, executionType, concurrencyPolicy, missedRunPolicy, schedule, retryAttempts, count)
JOBS = [
    ("/fast", "AT_LEAST_ONCE", "ALLOW", "RUN_ALL", EVERY_SECOND, 2, 3),
    ("/flaky", "AT_LEAST_ONCE", "ALLOW", "RUN_ALL", EVERY_SECOND, 3, 2),
    ("/slow", "AT_LEAST_ONCE", "FORBID", "COALESCE", "*/2 * * * * *", 2, 2),
    ("/fast", "AT_LEAST_ONCE", "FORBID", "SKIP", EVERY_SECOND, 2, 1),
    ("/fast", "AT_MOST_ONCE", "FORBID", "COALESCE", EVERY_SECOND, 0, 2),
    ("/slow", "AT_MOST_ONCE", "ALLOW", "RUN_ALL", EVERY_SECOND, 0, 1),
]
GRACE_S = 2 * POLL_MS / 1000
BASELINE_S = 14.0  # the first fault's window opens a lease before it
TAIL_S = LEASE_MS / 1000 + 5.0  # ticks this close to the end may still be on their way


@dataclass
class Outcome:
    seed: int
    report: Report
    plan: list[str]

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "faults": self.plan,
            "rows": [row.as_dict() for row in self.report.rows.values()],
            "total": self.report.total().as_dict(),
            **self.report.extra,
            "violations": len(self.report.violations),
            "ok": not self.report.violations,
        }


class Creator(threading.Thread):
    """Makes a job through the API every half second; remembers those acknowledged (201)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(name="chaos-creator", daemon=True)
        self.base_url, self.acknowledged, self.stop = base_url, set[str](), threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                answer = api(
                    self.base_url,
                    "POST",
                    "/api/jobs",
                    timeout_s=5,
                    json={"schedule": NEVER, "endpoint": "http://127.0.0.1:9/x"},
                )
            except Exception:  # unanswered: not acknowledged
                continue
            if answer.status_code == 201:
                self.acknowledged.add(answer.json()["data"]["jobId"])


def make_jobs(cluster: Cluster) -> list[JobSpec]:
    specs = []
    for path, kind, concurrency, missed, schedule, retries, count in JOBS:
        for _ in range(count):
            fields = {
                "schedule": schedule,
                "endpoint": f"{cluster.target_url}{path}",
                "executionType": kind,
                "concurrencyPolicy": concurrency,
                "missedRunPolicy": missed,
                "retryAttempts": retries,
                "retryDelay": 500,
            }
            answer = api(cluster.api.base_url, "POST", "/api/jobs", json=fields)
            assert answer.status_code == 201, answer.text
            specs.append(JobSpec(answer.json()["data"]["jobId"], schedule, kind, concurrency,
                                 missed))  # fmt: skip
    return specs


def drain(cluster: Cluster, specs: list[JobSpec], database: Any) -> list[str]:
    """Disable every job, wait (bounded) for what is in flight to settle; return what is
    still in flight then."""
    for spec in specs:
        api(cluster.api.base_url, "PUT", f"/api/jobs/{spec.job_id}", json={"enabled": False})
    ids = [ObjectId(spec.job_id) for spec in specs]

    def left() -> list[str]:
        jobs = database.jobs.find({"_id": {"$in": ids}}, projection=["inflight"])
        return [f"{job['_id']}: {e}" for job in jobs for e in job.get("inflight") or []]

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not left(), 3 * LEASE_MS / 1000 + 10, interval_s=0.5)
    return left()


def run(
    work: Path, duration_s: float, seed: int, skew_s: float = SKEW_S, say: Any = print
) -> Outcome:
    rng = random.Random(seed)
    say(
        f"chaos: seed {seed}, {duration_s:.0f} s of faults, clocks skewed by +-{skew_s:.0f} s, "
        f"work in {work}"
    )
    with ProcessGroup(work, print_logs=False) as group:
        cluster = Cluster(group, work, skew_s)
        try:
            cluster.start()
            specs = make_jobs(cluster)
            creator = Creator(cluster.api.base_url)
            creator.start()
            start = time.time() + 3.0  # first ticks claimed, affinities settled
            time.sleep(3.0 + BASELINE_S)  # a stretch with no fault but the skewed clocks
            planned = faults.plan(rng, duration_s)
            windows = faults.run_plan(cluster, planned, lambda line: say(f"  fault: {line}"))
            cluster.ensure_running()
            time.sleep(TAIL_S)
            end = time.time() - TAIL_S
            creator.stop.set()
            creator.join(10)
            with MongoClient(cluster.uri, tz_aware=True) as client:
                database = client.get_default_database()
                left = drain(cluster, specs, database)
                records = list(
                    database.job_executions.find(
                        {"jobId": {"$in": [ObjectId(s.job_id) for s in specs]}}
                    )
                )
                stored = {str(d["_id"]) for d in database.jobs.find({}, projection=["_id"])}
                skipped = {
                    str(d["_id"]): d.get("skippedTicks", 0)
                    for d in database.jobs.find({}, projection=["skippedTicks"])
                }
            report = check(specs, read_receipts(cluster.requests_log), records, left,
                           creator.acknowledged, stored, skipped, windows, (start, end),
                           POLL_MS / 1000, GRACE_S)  # fmt: skip
        finally:
            cluster.close()
    return Outcome(seed, report, [f"{f.kind} {f.detail} {f.duration_s:.1f}s" for f, _ in planned])


COLUMNS = [("fault", "fault", 16), ("expected", "ticks", 6), ("delivered", "deliv", 6),
           ("dup_at_most_once", "dup-AMO", 8), ("dup_at_least_once", "dup-ALO", 8),
           ("lost", "lost", 5), ("excused", "policy", 7), ("missed_at_most_once", "AMO-miss", 9),
           ("late", "late>poll", 10), ("early", "early", 6)]  # fmt: skip


def table(outcome: Outcome) -> str:
    rows = [*outcome.report.rows.values(), outcome.report.total()]
    lines = [" ".join(f"{title:>{width}}" for _, title, width in COLUMNS)]
    for row in rows:
        values = row.as_dict()
        lines.append(" ".join(f"{values[key]!s:>{width}}" for key, _, width in COLUMNS))
    return "\n".join(lines)


def render(outcome: Outcome) -> str:
    parts = [table(outcome)]
    kinds: dict[str, list[str]] = {}
    for line in outcome.report.violations:
        kinds.setdefault(line.split(":")[0], []).append(line)
    for kind, lines in kinds.items():
        parts.append(f"{len(lines)} x {kind}, e.g.:")
        parts += [f"  {line}" for line in lines[:5]]
    parts.append(json.dumps(outcome.summary(), sort_keys=True))
    return "\n".join(parts)
