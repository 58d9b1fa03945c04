"""The scale section: with few and with many registered jobs (5% of them due), one poll as the
service makes it (its queries, then the claims of what it returned), the idle service's
memory and the database's CPU while the service is idle."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pymongo

from bench import jobs
from bench.harness import CONCURRENCY
from bench.stats import log, median
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.db import connect
from scheduler_service.runtime import compose
from scheduler_service.stores import job_catalog
from scheduler_service.stores.executions import INDEXES as EXECUTION_INDEXES
from scheduler_service.stores.jobs import INDEXES as JOB_INDEXES

if TYPE_CHECKING:
    from bench.harness import Bench


def run(bench: Bench) -> dict[str, Any]:
    return {str(size): _one_size(bench, size) for size in bench.plan.scale_sizes}


def _one_size(bench: Bench, size: int) -> dict[str, Any]:
    name = f"scale{size}"
    db = bench.database(name)
    now = datetime.now(UTC).replace(microsecond=0)
    due, far = now + timedelta(days=1), now + timedelta(days=300)
    base = jobs.template(jobs.NEVER_AGAIN, bench.target_url("/scale"))
    began = time.monotonic()
    jobs.insert(db["jobs"], jobs.documents(
        base, (due if i % 20 == 0 else far for i in range(size))))  # 5% due
    db["jobs"].create_indexes(JOB_INDEXES)  # faster after the bulk insert than before it
    db["job_executions"].create_indexes(EXECUTION_INDEXES)
    # Nothing here lists jobs: the catalog is noted built (empty), so that the service
    # does not build it in the background during the idle window (stores/job_catalog.py).
    db[job_catalog.STATE_COLLECTION].insert_one({"_id": job_catalog.STATE_ID,
                                                 "version": job_catalog.VERSION})
    seed_s = time.monotonic() - began

    # Idle: nothing falls due for a day. Memory of the service, CPU of the database.
    service = bench.start_service(name, f"service-idle{size}")
    try:
        time.sleep(1.0)
        cpu0, t0 = bench.db_cpu_s(), time.monotonic()
        time.sleep(bench.plan.idle_seconds)
        db_cpu = (bench.db_cpu_s() - cpu0) / (time.monotonic() - t0)
        memory = service.ask("rss")
    finally:
        bench.stop_service(service)

    polls = _poll_costs(bench, name, due)
    bench.drop(name)
    result = {"jobs": size, "due": (size + 19) // 20, "seedSeconds": round(seed_s, 1),
              "idleRssKiB": memory["rssKiB"], "idleThreads": memory["threads"],
              "idleDbCpuPercent": round(db_cpu * 100, 1), **polls}
    log(f"scale {size}: poll {result['pollMs']} ms ({result['claimedPerPoll']} claims, "
        f"query {result['queryMs']} ms), idle RSS {memory['rssKiB'] // 1024} MiB, "
        f"idle DB CPU {result['idleDbCpuPercent']}%")
    return result


def _poll_costs(bench: Bench, name: str, due: datetime) -> dict[str, Any]:
    """One poll as the service makes it: ``Scheduler.poll_once()`` (its queries), then the
    claims of the ticks it returned (``Claimer.claim``, batched as the dispatcher
    does)."""
    config = Config(mongodb_uri=bench.uri(name), max_concurrent_jobs=CONCURRENCY,
                    scheduler_enabled=False)
    client, database, _ = connect(config)
    clock = FixedClock(due + timedelta(milliseconds=500))
    query_ms, claim_ms, claimed_counts = [], [], []
    try:
        for _ in range(bench.plan.poll_reps):
            runtime = compose(config, clock, database, client, "external")
            scheduler = runtime.new_scheduler(owner="bench-poll")
            began = time.perf_counter()
            scheduler.poll_once()
            polled = time.perf_counter()
            candidates = [c for c in scheduler.queue.close() if c.entry is None]
            won = scheduler.claimer.claim(candidates).won
            claimed = [claim.job.id for _, claim in won]
            done = time.perf_counter()
            scheduler.dispatcher.pool.shutdown(wait=False)
            assert scheduler.executor.writes is not None
            scheduler.executor.writes.close()
            query_ms.append((polled - began) * 1000)
            claim_ms.append((done - polled) * 1000)
            claimed_counts.append(len(claimed))
            with pymongo.timeout(300):  # put the claimed ticks back (not timed; slow)
                database["jobs"].update_many(
                    {"_id": {"$in": claimed}},
                    {"$set": {"nextRunAt": due, "inflight": [], "lastRunAt": None}})
    finally:
        client.close()
    claims = median(claimed_counts) or 0
    poll = median([q + c for q, c in zip(query_ms, claim_ms, strict=True)])
    return {
        "queryMs": median(query_ms),
        "claimMs": median(claim_ms),
        "claimedPerPoll": claims,
        "pollMs": poll,
        "pollMsPerClaim": round(poll / claims, 3) if claims and poll else None,
    }
