"""``ticks`` jobs due in one second, on one service process: how fast it runs them, from the
due second to the last recorded attempt, and what each execution costs (round trips,
document writes, CPU). The throughput rounds and the burst measure the service with it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from bench import jobs, writes
from bench.procs import cpu_seconds
from bench.stats import log, percentile, whole_second_after

if TYPE_CHECKING:
    from bench.harness import Bench


def run(bench: Bench, name: str, label: str, ticks: int, workers: int,
        profile: bool = False) -> dict[str, Any]:
    """``ticks`` jobs due in one second, the service with ``workers``: its figures."""
    db = bench.database(name)
    service = bench.start_service(name, label, profile,
                                  env=bench.service_env(name, workers))
    db_profile = None
    try:
        base = jobs.template(jobs.NEVER_AGAIN, bench.target_url("/tick"))
        due = whole_second_after(2.0 + ticks / 2000)
        jobs.insert(db["jobs"], jobs.documents(base, [due] * ticks))
        margin = (due - datetime.now(UTC)).total_seconds()
        bench.target_count(reset=True)
        service.ask("reset")
        db_profile = bench.profile_db(f"db-{label}") if profile else None
        ops0 = bench.opcounters()
        cpu0 = (cpu_seconds(service.service_pid), bench.db_cpu_s(), time.monotonic())
        cap = 30.0 + ticks / 25  # bounded: at least 25 executions/s or give up
        complete = _wait_recorded(bench, db, ticks, due, cap)
        cpu1 = (cpu_seconds(service.service_pid), bench.db_cpu_s(), time.monotonic())
        ops1 = bench.opcounters()
        counts = service.ask("counts")
    finally:
        bench.end_profile(db_profile)
        bench.stop_service(service)
    result = _figures(db, due, ticks, counts)
    recorded = result["recorded"]
    wall = cpu1[2] - cpu0[2]
    result.update(
        workers=workers, seedMarginS=round(margin, 2), complete=complete,
        serviceCpuMsPerExecution=writes.per((cpu1[0] - cpu0[0]) * 1000, recorded),
        dbCpuMsPerExecution=writes.per((cpu1[1] - cpu0[1]) * 1000, recorded),
        serviceCpuPercent=round((cpu1[0] - cpu0[0]) / wall * 100, 1),
        dbCpuPercent=round((cpu1[1] - cpu0[1]) / wall * 100, 1),
        documentsWritten=counts["documentsWritten"],
        documentWritesPerExecution=writes.per(counts["documentsWritten"], recorded),
        writeOps=writes.write_ops(ops0, ops1),
        writeOpsPerExecution=writes.per(writes.write_ops(ops0, ops1), recorded),
    )
    bench.drop(name)
    return result


def _wait_recorded(bench: Bench, db: Database, count: int, due: datetime, cap_s: float) -> bool:
    """Until ``count`` attempts are recorded as finished (or ``cap_s`` after ``due``).

    Watches the target's request count (free) and asks the database only when the
    target has seen them all or stalls, so the bench adds almost no database load.
    """
    end = due + timedelta(seconds=cap_s)
    last, last_change = -1, time.monotonic()
    while datetime.now(UTC) < end:
        seen = bench.target_count()
        if seen != last:
            last, last_change = seen, time.monotonic()
        if seen >= count or time.monotonic() - last_change > 3:
            finished = db["job_executions"].count_documents(
                {"status": {"$in": ["success", "failure"]}})
            if finished >= count:
                return True
            if time.monotonic() - last_change > 30:
                log(f"no progress for 30 s: {finished} of {count} recorded")
                return False
        time.sleep(0.25)
    return False


def _figures(db: Database, due: datetime, ticks: int,
             counts: dict[str, Any]) -> dict[str, Any]:
    rows = list(db["job_executions"].find(
        {}, projection={"startedAt": 1, "completedAt": 1, "status": 1, "scheduledAt": 1}))
    finished = [r for r in rows if r.get("completedAt") is not None]
    successes = sum(1 for r in finished if r["status"] == "success")
    last = max((r["completedAt"] for r in finished), default=due)
    first_start = min((r["startedAt"] for r in rows), default=due)
    span = max((last - due).total_seconds(), 1e-3)
    lags = sorted((r["startedAt"] - r["scheduledAt"]).total_seconds() * 1000 for r in rows)
    total = counts["total"]
    return {
        "ticks": ticks,
        "recorded": len(finished),
        "successes": successes,
        "seconds": round(span, 3),
        "rate": round(len(finished) / span, 1),
        "firstStartAfterDueMs": round((first_start - due).total_seconds() * 1000, 1),
        "startLagP50Ms": percentile(lags, 0.5),
        "startLagMaxMs": percentile(lags, 1.0),
        "roundTrips": total,
        "roundTripsPerExecution": round(total / max(len(finished), 1), 2),
        "commands": counts["commands"],
        "failedCommands": counts["failed"],
    }
