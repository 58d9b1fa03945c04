"""``python -m bench.list_filters [--jobs 100000] [--reps 5]``: ``GET /api/jobs`` latency
with each filter (``tag``, ``enabled``, ``q``, ``sort``) at many jobs, on a fresh embedded
server (SecantusDB), and the index the server's ``explain`` names for each query.

The jobs go straight into the database (``insert_many`` of documents shaped by the
service's own ``JobService.create``, the indexes made first with ``JobStore``); the
requests go through the whole app in this process (Flask test client: schema, service,
store, JSON), one at a time, after ``jobs recount`` (the seeding goes around the API's
kept counts). Prints a table and one JSON line, also written to
``bench/results/list_filters.json``. `make bench-list` runs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench import jobs
from bench.procs import ROOT, Children, free_port, wait_port
from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.embedded_db import embedded_uri, server_command
from scheduler_service.records import search_text
from scheduler_service.stores.job_counts import JobCounts
from scheduler_service.stores.job_pages import EPOCH
from scheduler_service.stores.jobs import JobFilter, JobStore

RESULTS = ROOT / "bench" / "results"
WORDS = ("billing", "reports", "sync", "cleanup", "alerts")

QUERIES = [
    ("no filter (newest first)", ""),
    ("tag, 10% match", "tag=billing"),
    ("tag, 0.1% match", "tag=rare"),
    ("two tags", "tag=billing&tag=eu"),
    ("enabled=false, 20%", "enabled=false"),
    ("enabled=true, 80%", "enabled=true"),
    ("q, one matches", "q=job-004217"),
    ("q, none match", "q=no-such-job"),
    ("q, 20% match", "q=reports"),
    ("sort=name", "sort=name"),
    ("sort=-name", "sort=-name"),
    ("sort=createdAt", "sort=createdAt"),
    ("sort=nextRunAt", "sort=nextRunAt"),
    ("sort=-nextRunAt", "sort=-nextRunAt"),
    ("sort=nextRunAt&enabled=true", "sort=nextRunAt&enabled=true"),
    ("tag + enabled + sort=name", "tag=billing&enabled=true&sort=name"),
]


def documents(count: int, endpoint: str) -> list[dict[str, Any]]:
    base = jobs.template(jobs.NEVER_AGAIN, endpoint)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for n in range(count):
        word = WORDS[n % len(WORDS)]
        name = f"job-{n:06d} {word}"
        tags = [word]
        if n % 10 == 0:
            tags = ["billing", *(["eu"] if n % 20 == 0 else [])]
        if n % 1000 == 0:
            tags.append("rare")
        enabled = n % 5 != 0
        made.append({
            **base, "name": name, "tags": tags, "enabled": enabled,
            "searchText": search_text(name, base["endpoint"]),
            "createdAt": start + timedelta(seconds=n), "updatedAt": start,
            "nextRunAt": start + timedelta(days=365, seconds=(n * 7919) % count)
            if enabled else None,
            "headers": {}, "inflight": [],
        })  # fmt: skip
    return made


def index_used(explain: dict[str, Any]) -> str:
    """The index names in a query plan (MongoDB's shape; SecantusDB answers alike)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "indexName" in node:
                found.append(str(node["indexName"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(explain.get("queryPlanner", {}).get("winningPlan", explain))
    return ", ".join(dict.fromkeys(found)) or "none (collection scan)"


def window_index(collection: Any, selection: JobFilter, store: JobStore) -> str:
    """The index the server's ``explain`` names for the walk's window queries (the first
    stretch of the order; ``job_pages``), on ``jobs`` or ``job_catalog`` as the walk reads."""
    counts = store.counts_store.read() or JobCounts()
    segment = selection.segments(datetime.now(UTC), counts)[0]
    query = {**segment.base}
    if not segment.fenced:
        query[segment.field] = {"$gt": EPOCH}
    order = [(segment.field, segment.direction), ("_id", segment.direction)]
    if segment.field != "nextRunAt":  # the walk reads the others on the catalog
        collection = store.catalog.collection
    return index_used(collection.find(query).sort(order).explain())


def selection_of(query: str) -> JobFilter:
    args: dict[str, list[str]] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        args.setdefault(key, []).append(value)
    enabled = args.get("enabled", [None])[0]
    return JobFilter(tags=tuple(args.get("tag", [])),
                     enabled=None if enabled is None else enabled == "true",
                     q=args.get("q", [None])[0],
                     sort=args.get("sort", ["-createdAt"])[0])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="scheduler-bench-list-"))
    children = Children(data_dir)
    port = free_port()
    try:
        server = children.start("secantusdb", server_command(data_dir / "db", port))
        wait_port(port, server, 60)
        uri = embedded_uri(port, "listbench")
        client: MongoClient = MongoClient(uri, tz_aware=True)
        collection = client["listbench"]["jobs"]
        JobStore(client["listbench"]).ensure_indexes()
        started = time.monotonic()
        docs = documents(args.jobs, "http://127.0.0.1:9/hook")
        for chunk in range(0, len(docs), 1000):
            collection.insert_many(docs[chunk:chunk + 1000], ordered=False)
        store = JobStore(client["listbench"])
        store.recount()  # written around the API: count them, and catalog them for the list
        seeded_s = time.monotonic() - started
        print(f"seeded {args.jobs} jobs in {seeded_s:.0f} s", flush=True)
        app = create_app(open_runtime(Config(mongodb_uri=uri, rate_limit="off")))
        logging.getLogger("scheduler_service").setLevel(logging.ERROR)  # no access lines
        api = app.test_client()
        rows = []
        for label, query in QUERIES:
            times, total, statuses = [], None, set()
            for _ in range(args.reps):
                begin = time.perf_counter()
                response = api.get(f"/api/jobs?{query}")
                times.append((time.perf_counter() - begin) * 1000)
                statuses.add(response.status_code)
                if response.status_code == 200:
                    total = response.get_json()["pagination"]["total"]
            selection = selection_of(query)
            try:
                index = window_index(collection, selection, store)
            except Exception as exc:  # an explain the server does not answer
                index = f"explain failed: {type(exc).__name__}"
            rows.append({"filter": label, "query": query, "matches": total,
                         "medianMs": round(statistics.median(times), 1),
                         "maxMs": round(max(times), 1), "index": index,
                         "statuses": sorted(statuses)})  # fmt: skip
            print(f"{label:32} {rows[-1]['medianMs']:>9.1f} ms  (max {rows[-1]['maxMs']:.1f})  "
                  f"{total} jobs  {sorted(statuses)}  {index}", flush=True)
        client.close()
        result = {"jobs": args.jobs, "seedSeconds": round(seeded_s), "reps": args.reps,
                  "rows": rows}  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "list_filters.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result))
        return 0
    finally:
        children.stop_all()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
