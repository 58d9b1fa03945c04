"""Every-second jobs for a while: how late each tick starts, and whether every tick runs once.

Three shapes (issue 19), each on the bench's one SecantusDB server and target:

- ``light``: 20 jobs, one service process;
- ``multi``: 200 jobs on 3 service processes sharing the database (the soak's shape,
  ``bench/soak.py``, with its settings: ``MAX_CONCURRENT_JOBS=20``, lease 10 s, timeout 5 s);
- ``heavy``: 500 jobs, one service process.

Each service process is ``bench/service.py`` (the service's runtime with its scheduler, and
a command counter). The jobs are seeded due at the same whole second, then fire every
second; after a warm-up, a window of whole seconds is watched. Per run:

- at the target (``bench/target.py`` keeps each request's ``X-Scheduler-Job-Id``,
  ``X-Scheduler-Scheduled-At`` and arrival time): lateness (arrival - scheduled) p50 / p99 /
  max, misses ((job, second) of the window never delivered) and duplicates;
- in ``job_executions``: start lag (``startedAt - scheduledAt``) p50 / p99 / max;
- over the window: document writes per execution (the services' own writes, from the
  replies), the server's write opcounters per execution, the CPU per execution of the
  service processes together and of the database, round trips per execution by command
  and collection, and the documents each process wrote (how the work was shared).
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench import jobs, writes
from bench.procs import Child, cpu_seconds
from bench.stats import log, percentile, sleep_until, whole_second_after

if TYPE_CHECKING:
    from bench.harness import Bench

WARMUP_S = 3  # whole seconds between the first tick and the window
SETTLE_S = 3  # after the window: its last ticks arrive and are recorded
SOAK_SETTINGS = {"JOB_LEASE_TIMEOUT": "10000", "JOB_TIMEOUT": "5000"}


@dataclass(frozen=True)
class Shape:
    name: str
    jobs: int
    processes: int
    seconds: int
    workers: int
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def estimate_s(self) -> float:
        """Seconds the run takes: start-up, seeding, warm-up, the window, the stops."""
        return 10 + 3 * self.processes + self.jobs / 500 + WARMUP_S + self.seconds + SETTLE_S


def light(seconds: int) -> Shape:
    return Shape("light", 20, 1, seconds, 32)


def multi(seconds: int) -> Shape:
    return Shape("multi", 200, 3, seconds, 20, SOAK_SETTINGS)


def heavy(seconds: int) -> Shape:
    return Shape("heavy", 500, 1, seconds, 32)


def run(bench: Bench, shape: Shape) -> dict[str, Any]:
    name = f"lateness_{shape.name}"
    db = bench.database(name)
    env = bench.service_env(name, shape.workers, **shape.settings)
    services: list[Child] = []
    db_profile = None
    try:
        for number in range(shape.processes):  # --profile: the first one under py-spy
            services.append(bench.start_service(
                name, f"service-{shape.name}{number}", bench.profile and number == 0, env))
        base = jobs.template(jobs.EVERY_SECOND, bench.target_url("/lateness"))
        first = whole_second_after(1.0 + shape.jobs / 2000)
        jobs.insert(db["jobs"], jobs.documents(base, [first] * shape.jobs))
        job_ids = {str(d["_id"]) for d in db["jobs"].find({}, {"_id": 1})}
        start = first + timedelta(seconds=WARMUP_S)
        end = start + timedelta(seconds=shape.seconds)
        sleep_until(start - timedelta(milliseconds=300), 60)
        bench.target_count(reset=True)  # the window's ticks all arrive after this
        for service in services:
            service.ask("reset")
        db_profile = bench.profile_db(f"db-{shape.name}")
        before = _snapshot(bench, services)
        sleep_until(end, shape.seconds + 10)
        after = _snapshot(bench, services)
        counts = [service.ask("counts") for service in services]
        sleep_until(end + timedelta(seconds=SETTLE_S), SETTLE_S + 1)
        arrivals = _arrivals(bench)
        if os.environ.get("BENCH_TRACE"):  # for bench.trace_report's stages
            with open(os.path.join(os.environ["BENCH_TRACE"], "arrivals.txt"), "w") as out:
                out.writelines(f"{a} {j} {s.timestamp()}\n" for a, j, s in arrivals)
    finally:
        bench.end_profile(db_profile)
        for service in services:
            bench.stop_service(service)
    rows = list(db["job_executions"].find(
        {"scheduledAt": {"$gte": start, "$lt": end}},
        projection={"startedAt": 1, "scheduledAt": 1}))  # fmt: skip
    bench.drop(name)
    result = _figures(shape, job_ids, start, end, arrivals, rows)
    executions = len(rows)
    documents = sum(c["documentsWritten"] for c in counts)
    ops = writes.write_ops(before["ops"], after["ops"])
    result.update(
        documentWritesPerExecution=writes.per(documents, executions),
        writeOpsPerExecution=writes.per(ops, executions),
        serviceCpuMsPerExecution=writes.per((after["cpu"] - before["cpu"]) * 1000, executions),
        dbCpuMsPerExecution=writes.per((after["db"] - before["db"]) * 1000, executions),
        serviceCpuPercent=round((after["cpu"] - before["cpu"]) / shape.seconds * 100, 1),
        dbCpuPercent=round((after["db"] - before["db"]) / shape.seconds * 100, 1),
        roundTripsPerExecution=writes.per(sum(c["total"] for c in counts), executions),
        commandsPerExecution=_commands_per(counts, executions),
        # One process left with every job is how a multi-process run falls behind.
        documentsWrittenPerProcess=[c["documentsWritten"] for c in counts],
    )
    log(f"{shape.name}: {shape.jobs} jobs on {shape.processes} process(es), {shape.seconds} s: "
        f"lateness at target p50 {result['latenessP50Ms']} / p99 {result['latenessP99Ms']} / "
        f"max {result['latenessMaxMs']} ms, start lag p99 {result['startLagP99Ms']} ms; "
        f"misses {result['misses']}, duplicates {result['duplicates']}; "
        f"{result['documentWritesPerExecution']} doc writes/exec")
    return result


def _figures(shape: Shape, job_ids: set[str], start: datetime, end: datetime,
             arrivals: list[tuple[float, str, datetime]],
             rows: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    seen: dict[tuple[str, datetime], int] = {}
    lateness = []
    for arrived, job_id, scheduled in arrivals:
        if job_id in job_ids and start <= scheduled < end:
            seen[(job_id, scheduled)] = seen.get((job_id, scheduled), 0) + 1
            lateness.append((arrived - scheduled.timestamp()) * 1000)
    lateness.sort()
    expected = len(job_ids) * shape.seconds
    delivered = len(seen)
    lags = sorted((r["startedAt"] - r["scheduledAt"]).total_seconds() * 1000 for r in rows)
    return {
        "jobs": shape.jobs, "processes": shape.processes, "seconds": shape.seconds,
        "workers": shape.workers, "expectedTicks": expected,
        "delivered": delivered, "requests": len(lateness),
        "misses": expected - delivered,
        "duplicates": sum(n - 1 for n in seen.values()),
        "executions": len(rows),
        "latenessP50Ms": percentile(lateness, 0.5),
        "latenessP99Ms": percentile(lateness, 0.99),
        "latenessMaxMs": percentile(lateness, 1.0),
        "startLagP50Ms": percentile(lags, 0.5),
        "startLagP99Ms": percentile(lags, 0.99),
        "startLagMaxMs": percentile(lags, 1.0),
    }  # fmt: skip


def _commands_per(counts: list[dict[str, Any]], executions: int) -> dict[str, float | None]:
    """Round trips per execution by ``command collection``, all processes, most first."""
    total: dict[str, int] = {}
    for count in counts:
        for key, n in count["commands"].items():
            total[key] = total.get(key, 0) + n
    ordered = sorted(total.items(), key=lambda item: -item[1])
    return {key: writes.per(n, executions) for key, n in ordered}


def _snapshot(bench: Bench, services: list[Child]) -> dict[str, Any]:
    return {"ops": bench.opcounters(), "db": bench.db_cpu_s(),
            "cpu": sum(cpu_seconds(s.service_pid) for s in services)}  # fmt: skip


def _arrivals(bench: Bench) -> list[tuple[float, str, datetime]]:
    with urllib.request.urlopen(bench.target_url("/__records"), timeout=30) as response:
        text = response.read().decode()
    out = []
    for line in text.splitlines():
        arrived, job_id, scheduled = line.split(" ")
        out.append((float(arrived), job_id,
                    datetime.fromisoformat(scheduled.upper().replace("Z", "+00:00"))))
    return out
