"""The ``api-scale`` section of ``make bench`` (issue 19, "The API at scale"): at many
registered jobs on the embedded server, measured from outside through gunicorn (one
worker, scheduler off):

- create rate while filling: the last ``fill`` jobs created through ``POST /api/jobs``
  by 16 keep-alive clients (the jobs before them go straight into the database, shaped by
  the service as in ``bench/list_filters.py``, then ``jobs recount``);
- ``GET /api/jobs`` p50 with each filter of ``list_filters.QUERIES`` and ``page=2``, and the
  next page by its ``nextCursor``;
- ``GET /api/observability/stats`` p50.

``run(bench, jobs, fill, reps)`` takes the bench's ``Bench`` (its SecantusDB server, its
service environment and child processes) and returns the figures; ``lines(result)`` is its
part of the table.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.list_filters import QUERIES, documents
from bench.procs import ROOT, free_port, wait_port
from scheduler_service.stores.jobs import JobStore

NAME = "apiscale"
THREADS = 16
CREATE = {"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/bench", "method": "POST",
          "body": {"bench": True}, "tags": ["filled"]}  # fmt: skip
LIST_QUERIES = [*QUERIES, ("page 2", "page=2&limit=20")]


def _seed(database: Any, count: int) -> float:
    started = time.monotonic()
    store = JobStore(database)
    store.ensure_indexes()
    made = documents(count, "http://127.0.0.1:9/hook")
    for chunk in range(0, len(made), 1000):
        store.collection.insert_many(made[chunk:chunk + 1000], ordered=False)
    store.recount()  # written around the API: count them, and catalog them for the list
    return time.monotonic() - started


def _fill(port: int, auth: dict[str, str], count: int) -> dict[str, Any]:
    """Create ``count`` jobs through the API with ``THREADS`` clients; the rate."""
    body = json.dumps(CREATE).encode()
    left = [count]
    errors = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            conn.request("POST", "/api/jobs", body=body,
                         headers={"Content-Type": "application/json", **auth})  # fmt: skip
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                with lock:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    seconds = time.perf_counter() - started
    return {"jobs": count, "seconds": round(seconds, 1), "perSecond": round(count / seconds),
            "errors": errors[0]}  # fmt: skip


def _get(conn: http.client.HTTPConnection, path: str,
         auth: dict[str, str]) -> tuple[float, int, Any]:  # fmt: skip
    began = time.perf_counter()
    conn.request("GET", path, headers=auth)
    response = conn.getresponse()
    raw = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, response.status, json.loads(raw) if raw else None


def _lists(port: int, auth: dict[str, str], reps: int) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rows = []
    for label, query in LIST_QUERIES:
        times, statuses, body = [], set(), None
        for _ in range(reps):
            elapsed, status, body = _get(conn, f"/api/jobs?{query}", auth)
            times.append(elapsed)
            statuses.add(status)
        pagination = (body or {}).get("pagination") or {}
        cursor_ms = None
        if pagination.get("nextCursor"):
            kept = "&".join(part for part in query.split("&") if not part.startswith("page="))
            cursor_ms, status, _ = _get(
                conn, f"/api/jobs?{kept}&cursor={pagination['nextCursor']}", auth)
            statuses.add(status)
        rows.append({"filter": label, "query": query, "p50Ms": round(statistics.median(times), 1),
                     "maxMs": round(max(times), 1),
                     "nextPageMs": None if cursor_ms is None else round(cursor_ms, 1),
                     "total": pagination.get("total"), "totalExact": pagination.get("totalExact"),
                     "complete": pagination.get("complete"),
                     "statuses": sorted(statuses)})  # fmt: skip
    conn.close()
    return rows


def _stats(port: int, auth: dict[str, str], reps: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    results = [_get(conn, "/api/observability/stats", auth) for _ in range(reps)]
    conn.close()
    return {"p50Ms": round(statistics.median(r[0] for r in results), 1),
            "statuses": sorted({r[1] for r in results})}  # fmt: skip


def run(bench: Any, jobs: int, fill: int, reps: int, api_key: str) -> dict[str, Any]:
    database = bench.database(NAME)
    seeded_s = _seed(database, jobs - fill)
    port = free_port()
    env = bench.service_env(NAME, SCHEDULER_ENABLED="false", WEB_CONCURRENCY="1",
                            BIND=f"127.0.0.1:{port}")  # fmt: skip
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = bench.children.start(
        "gunicorn-apiscale",
        [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"], env=env)
    auth = {"Authorization": f"Bearer {api_key}"}
    try:
        wait_port(port, server, 60)
        filled = _fill(port, auth, fill)
        rows = _lists(port, auth, reps)
        stats = _stats(port, auth, reps)
    finally:
        bench.children.stop(server, grace_s=30)
    stored = database["jobs"].estimated_document_count()
    bench.drop(NAME)
    return {"jobs": stored, "seededSeconds": round(seeded_s), "create": filled,
            "list": rows, "stats": stats, "reps": reps}  # fmt: skip


def lines(result: dict[str, Any] | None) -> list[str]:
    """The section's rows of the bench's table."""
    if not result:
        return ["api-scale: not run"]
    create = result["create"]
    out = [f"API at {result['jobs']:,} jobs (embedded, gunicorn 1 worker, scheduler off; "
           f"target: list p50 <= 50 ms, stats p50 <= 100 ms, create >= 300/s)",
           f"  create while filling ({create['jobs']:,} jobs, {THREADS} clients): "
           f"{create['perSecond']}/s, {create['errors']} errors",
           f"  stats p50 {result['stats']['p50Ms']} ms {result['stats']['statuses']}"]
    for row in result["list"]:
        after = "" if row["nextPageMs"] is None else f", next page {row['nextPageMs']} ms"
        out.append(f"  list {row['filter']:30} p50 {row['p50Ms']:>7} ms{after} "
                   f"{row['statuses']}")
    return out
