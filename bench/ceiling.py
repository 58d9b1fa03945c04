"""The ceiling: how fast the HTTP client alone, and the database writes alone, can go.

- HTTP: ``threads`` threads (the service's MAX_CONCURRENT_JOBS), each with its own plain
  ``requests`` Session whose adapter has the pool sizes of the service's ``new_session()``,
  POST the same small JSON body to the same target; requests per second. (Plain: the raw
  client, without the service's per-attempt deadline, size cap or target checks.)
- Database: the writes one execution needs, made with the service's own store methods
  against a fresh database with the service's indexes: claim (``claim_tick``: advance
  ``nextRunAt``, push the in-flight entry), write the attempt's record (``record_many``),
  release the entry (``drop_entry``). Executions per second, at the service's concurrency
  and at 1 thread (the server may prefer fewer connections); the better of the two counts.
"""

from __future__ import annotations

import functools
import threading
import time
from datetime import timedelta
from typing import Any

import requests
from pymongo.database import Database
from requests.adapters import HTTPAdapter

from bench import jobs
from scheduler_service.clock import SystemClock
from scheduler_service.delivery.session import new_session
from scheduler_service.records import Entry, ExecutionRecord, Job
from scheduler_service.stores.executions import INDEXES as EXECUTION_INDEXES
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import INDEXES as JOB_INDEXES
from scheduler_service.stores.ticks import TickStore

BODY = b'{"bench":true}'


@functools.cache
def pool_sizes() -> tuple[int, int]:
    """(pool_connections, pool_maxsize) of the adapter the service's sessions use."""
    adapter = new_session().get_adapter("http://127.0.0.1/")
    return (int(getattr(adapter, "_pool_connections", 10)),
            int(getattr(adapter, "_pool_maxsize", 10)))


def plain_session() -> requests.Session:
    """``requests`` as the service configures it, minus its own checks: the raw client."""
    connections, maxsize = pool_sizes()
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=connections, pool_maxsize=maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _run_threads(threads: int, work: Any, deadline_s: float) -> float:
    """Run ``work(stop)`` in ``threads`` threads; seconds until all are done."""
    stop = threading.Event()
    pool = [threading.Thread(target=work, args=(stop,), daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    end = time.monotonic() + deadline_s
    for thread in pool:
        thread.join(max(0.0, end - time.monotonic()))
    stop.set()
    for thread in pool:
        thread.join(5)
    return time.perf_counter() - started


def http_rate(url: str, total: int, threads: int, deadline_s: float = 120.0) -> dict[str, Any]:
    remaining = [total]
    lock = threading.Lock()
    errors = [0]
    done = [0]

    def work(stop: threading.Event) -> None:
        session = plain_session()
        try:
            while not stop.is_set():
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                try:
                    response = session.post(url, data=BODY, timeout=10,
                                            headers={"Content-Type": "application/json"})
                    response.content  # noqa: B018 - read the body, as the service does
                    ok = response.status_code == 200
                except Exception:
                    ok = False
                with lock:
                    done[0] += 1
                    errors[0] += not ok
        finally:
            session.close()

    # Warm up the connections first (not timed), as a running service has them open.
    warm = min(threads * 2, total)
    remaining[0] = warm
    _run_threads(threads, work, deadline_s)
    remaining[0], done[0], errors[0] = total, 0, 0
    elapsed = _run_threads(threads, work, deadline_s)
    return {"requests": done[0], "errors": errors[0], "seconds": round(elapsed, 3),
            "rate": round(done[0] / elapsed, 1)}


def db_rate(database: Database, executions: int, threads: int,
            deadline_s: float = 120.0) -> dict[str, Any]:
    """Executions' worth of writes per second against ``database`` (fresh, dropped after)."""
    database["jobs"].create_indexes(JOB_INDEXES)
    database["job_executions"].create_indexes(EXECUTION_INDEXES)
    clock = SystemClock()
    due = clock.now()
    base = jobs.template(jobs.NEVER_AGAIN, "http://127.0.0.1:9/unused")
    base["updatedAt"] = due
    jobs.insert(database["jobs"], jobs.documents(base, [due] * executions))
    pending = [Job.from_document(document) for document
               in database["jobs"].find({}, projection=["nextRunAt", "updatedAt"])]  # fmt: skip
    ticks, history = TickStore(database), ExecutionStore(database)
    lock = threading.Lock()
    counts = {"done": 0, "lost": 0, "errors": 0}
    following = due + timedelta(days=365)

    def work(stop: threading.Event) -> None:
        while not stop.is_set():
            with lock:
                if not pending:
                    return
                job = pending.pop()
            try:
                now = clock.now()
                assert job.id is not None and job.next_run_at is not None
                entry = Entry.scheduled(job.next_run_at, owner="bench", now=now,
                                        lease=timedelta(minutes=1))  # fmt: skip
                if not ticks.claim_tick(job, entry, following, forbid_overlap=True,
                                        started_at=now):
                    with lock:
                        counts["lost"] += 1
                    continue
                history.record_many([ExecutionRecord.ended(
                    job.id, entry, now, success=True, completed_at=clock.now(), duration=1,
                    response_code=200, response_body="ok", error_message=None)])
                ticks.drop_entry(job.id, entry.id, "bench")
                with lock:
                    counts["done"] += 1
            except Exception:
                with lock:
                    counts["errors"] += 1

    elapsed = _run_threads(threads, work, deadline_s)
    return {"threads": threads, "executions": counts["done"], "lost": counts["lost"],
            "errors": counts["errors"], "seconds": round(elapsed, 3),
            "rate": round(counts["done"] / elapsed, 1)}
