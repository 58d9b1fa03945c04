"""One round of ceiling, throughput and the memory-store peer (``run_round``): the HTTP
client alone and the database writes of one execution alone (the ceiling), this service
with ``plan.ticks`` jobs due in one second, and APScheduler 3 with its memory store firing
the same ticks. Ratios are taken within a round, then their median (``bench/figures.py``)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bench import ceiling, service_burst
from bench.harness import CONCURRENCY
from bench.procs import python
from bench.stats import log

if TYPE_CHECKING:
    from bench.harness import Bench


def run_round(bench: Bench, number: int, rounds: list[dict[str, Any]]) -> None:
    """Round ``number`` of ceiling, throughput and the memory-store peer."""
    def one() -> dict[str, Any]:
        entry: dict[str, Any] = {"round": number, "ceiling": ceiling_round(bench, number)}
        entry["throughput"] = throughput_round(bench, number)
        entry["peer"] = memory_peer(bench, number)
        return entry

    entry = bench.guard(f"round {number}", one)
    if entry is not None:
        rounds.append(entry)


def ceiling_round(bench: Bench, round_no: int) -> dict[str, Any]:
    plan = bench.plan
    http = ceiling.http_rate(bench.target_url("/ceiling"), plan.http_requests, CONCURRENCY)
    db_runs = {}
    for threads in (CONCURRENCY, 1):
        name = f"ceiling{round_no}_{threads}"
        db_runs[threads] = ceiling.db_rate(bench.database(name), plan.db_executions, threads)
        bench.drop(name)
    db_best = max(run["rate"] for run in db_runs.values())
    result = {
        "httpRate": http["rate"],
        "httpErrors": http["errors"],
        "dbRate": db_best,
        "dbRateAt64": db_runs[CONCURRENCY]["rate"],
        "dbRateAt1": db_runs[1]["rate"],
        "dbErrors": sum(run["errors"] + run["lost"] for run in db_runs.values()),
        "rate": min(http["rate"], db_best),
        "boundBy": "http" if http["rate"] < db_best else "database",
    }
    log(f"round {round_no} ceiling: HTTP {http['rate']}/s, DB writes {db_best} exec/s "
        f"(64 threads {db_runs[CONCURRENCY]['rate']}, 1 thread {db_runs[1]['rate']})")
    return result


def throughput_round(bench: Bench, round_no: int) -> dict[str, Any]:
    result = service_burst.run(bench, f"throughput{round_no}", f"service-throughput{round_no}",
                               bench.plan.ticks, CONCURRENCY,
                               profile=bench.profile and round_no == 0)
    log(f"round {round_no} throughput: {result['rate']} exec/s, "
        f"{result['roundTripsPerExecution']} round trips/execution"
        + ("" if result["complete"] else " (INCOMPLETE)"))
    return result


def memory_peer(bench: Bench, round_no: int, ticks: int | None = None,
                threads: int = CONCURRENCY) -> dict[str, Any]:
    """APScheduler 3 with its memory store: ``ticks`` (the plan's) due at one second."""
    ticks = ticks or bench.plan.ticks
    at = time.time() + 3.0 + ticks / 2500
    cap = 30.0 + ticks / 25
    child = bench.children.start(f"peer{round_no}-{ticks}", python(
        "-m", "bench.peer", "--url", bench.target_url("/peer"), "--count", str(ticks),
        "--threads", str(threads), "--at", f"{at:.3f}", "--timeout", str(cap)))
    try:
        result = json.loads(child.expect("= ", at - time.time() + cap + 60)[2:])
    finally:
        bench.children.stop(child, grace_s=5)
    log(f"round {round_no} APScheduler (memory store, {ticks} ticks, {threads} threads): "
        f"{result['rate']} exec/s")
    return result
