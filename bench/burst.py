"""The burst of issue 19: ticks due in one second, 32 workers, this service against APScheduler.

For each size (600 and 2,000 ticks), one after the other on the bench's one SecantusDB
server and one target:

1. this service (``MAX_CONCURRENT_JOBS=32``), recording every attempt: finished executions
   in ``job_executions`` per second, from the due second to the last ``completedAt``;
2. APScheduler 3 with its ``MongoDBJobStore`` on the same server (a pool of 32 threads, its
   own process, a fresh collection every round): completions per second from the due
   second to the last one;
3. APScheduler 3 with its memory store, the same way (a second reference: no database).

For each: documents written per execution (driver side: the replies to the process's
own writes) and the server's write opcounters per execution, and the process's CPU per
execution. The ratio service / APScheduler (MongoDB store) is taken within the round.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bench import service_burst, writes
from bench.procs import python
from bench.rounds import memory_peer
from bench.stats import log, median

if TYPE_CHECKING:
    from bench.harness import Bench

SIZES = (600, 2000)
WORKERS = 32
PEER_DATABASE = "burst_peer"


def burst_round(bench: Bench, round_no: int, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ticks in sizes:
        service = service_burst.run(bench, f"burst{round_no}_{ticks}",
                                    f"service-burst{round_no}-{ticks}", ticks, WORKERS,
                                    profile=bench.profile and round_no == 0)
        mongo = mongo_peer(bench, round_no, ticks)
        memory = memory_peer(bench, round_no, ticks, WORKERS)
        ratio = (round(service["rate"] / mongo["rate"], 3)
                 if mongo["rate"] and mongo["completed"] == ticks else None)  # fmt: skip
        out[str(ticks)] = {"service": service, "apschedulerMongo": mongo,
                           "apschedulerMemory": memory, "serviceToMongoPeer": ratio}
        log(f"round {round_no} burst {ticks}: service {service['rate']} exec/s "
                  f"({service['documentWritesPerExecution']} doc writes/exec), "
                  f"APScheduler+MongoDBJobStore {mongo['rate']} exec/s "
                  f"({mongo['documentWritesPerExecution']} doc writes/exec), ratio {ratio}; "
                  f"APScheduler memory {memory['rate']} exec/s")
    return out


def mongo_peer(bench: Bench, round_no: int, ticks: int) -> dict[str, Any]:
    """APScheduler 3 + ``MongoDBJobStore`` in its own process on the bench's server."""
    cap = 30.0 + ticks / 25
    collection = f"jobs_round{round_no}_{ticks}"
    child = bench.children.start(f"peer-mongo{round_no}-{ticks}", python(
        "-m", "bench.peer", "--url", bench.target_url("/peer"), "--count", str(ticks),
        "--threads", str(WORKERS), "--mongo-uri", bench.uri(PEER_DATABASE),
        "--collection", collection, "--timeout", str(cap)))  # fmt: skip
    try:
        ready = child.expect("ready", 60 + ticks * 0.05)
        ops0, db_cpu0 = bench.opcounters(), bench.db_cpu_s()
        margin = float(ready.split()[2])
        if margin < 0.5:
            log(f"APScheduler's {ticks} inserts took longer than planned "
                      f"(margin {margin} s): its rate includes the rest")
        result = json.loads(child.expect("= ", float(ready.split()[1]) - time.time()
                                         + cap + 60)[2:])  # fmt: skip
        ops1, db_cpu1 = bench.opcounters(), bench.db_cpu_s()
    finally:
        bench.children.stop(child, grace_s=5)
    bench.drop(PEER_DATABASE)
    done = result["completed"]
    ops = writes.write_ops(ops0, ops1)
    result.update(workers=WORKERS, writeOps=ops, writeOpsPerExecution=writes.per(ops, done),
                  documentWritesPerExecution=writes.per(result["documentsWritten"], done),
                  dbCpuMsPerExecution=writes.per((db_cpu1 - db_cpu0) * 1000, done))
    return result


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Medians over the rounds, per size (ratios: the median of the in-round ratios)."""
    if not rounds:
        return None
    out: dict[str, Any] = {"workers": WORKERS, "rounds": len(rounds)}
    for size in rounds[0]:
        runs = [r[size] for r in rounds if size in r]

        def across(who: str, field: str, runs: list[dict[str, Any]] = runs) -> float | None:
            return median([run[who].get(field) for run in runs])

        out[size] = {
            "serviceRate": across("service", "rate"),
            "serviceComplete": all(run["service"]["complete"] for run in runs),
            "mongoPeerRate": across("apschedulerMongo", "rate"),
            "memoryPeerRate": across("apschedulerMemory", "rate"),
            "memoryPeerCpuMsPerExecution": across("apschedulerMemory", "cpuMsPerExecution"),
            "ratio": median([run["serviceToMongoPeer"] for run in runs]),
            "serviceDocWritesPerExecution": across("service", "documentWritesPerExecution"),
            "serviceWriteOpsPerExecution": across("service", "writeOpsPerExecution"),
            "serviceCpuMsPerExecution": across("service", "serviceCpuMsPerExecution"),
            "serviceDbCpuMsPerExecution": across("service", "dbCpuMsPerExecution"),
            "mongoPeerDocWritesPerExecution": across("apschedulerMongo",
                                                     "documentWritesPerExecution"),
            "mongoPeerWriteOpsPerExecution": across("apschedulerMongo", "writeOpsPerExecution"),
            "mongoPeerCpuMsPerExecution": across("apschedulerMongo", "cpuMsPerExecution"),
            "mongoPeerDbCpuMsPerExecution": across("apschedulerMongo", "dbCpuMsPerExecution"),
        }
    return out
