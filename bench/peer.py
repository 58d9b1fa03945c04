"""The peer: APScheduler 3 firing the same HTTP ticks at the same target, in its own process.

``BackgroundScheduler`` with a thread pool of ``--threads``; ``count`` date-triggered jobs
all due at one second. Each job POSTs the same body with a per-thread Session made like
the HTTP ceiling's. Two job stores:

- memory (the default): the jobs are due at ``--at`` (epoch seconds);
- ``--mongo-uri URI --collection NAME``: APScheduler's own ``MongoDBJobStore`` on that
  server (``retryWrites=false``, as SecantusDB needs); ``add_job`` inserts each job
  there, then they fall due at the first whole second at least ``--lead`` seconds after the
  last insert is expected (``--insert-ms`` each). When a date job runs, APScheduler deletes
  its document: one write per tick, and no history.

Prints ``ready`` once every job is stored, then one line ``= {json}``: completions, the
rate from the due second to the last completion, the start lag, this process's CPU
seconds over the run, and (MongoDB store) its commands and documents written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from pymongo import monitoring

from bench.ceiling import plain_session
from bench.writes import CommandCounter

BODY = b'{"bench":true}'
_local = threading.local()
_lock = threading.Lock()
_started: list[float] = []


def fire(url: str, due: float) -> None:
    """One tick (a module-level function: the MongoDB store keeps a reference to it)."""
    now = time.time()
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = plain_session()
    response = session.post(url, data=BODY, timeout=30,
                            headers={"Content-Type": "application/json"})  # fmt: skip
    response.content  # noqa: B018 - read the body
    with _lock:
        _started.append(now - due)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}")


def cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--at", type=float, help="memory store: when the jobs are due")
    parser.add_argument("--mongo-uri", help="use MongoDBJobStore on this server")
    parser.add_argument("--collection", default="apscheduler_jobs")
    parser.add_argument("--lead", type=float, default=2.0)
    parser.add_argument("--insert-ms", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    counter = CommandCounter()
    jobstores: dict[str, Any] = {}
    if args.mongo_uri:
        monitoring.register(counter)
        from apscheduler.jobstores.mongodb import MongoDBJobStore
        from pymongo import MongoClient

        client: MongoClient = MongoClient(args.mongo_uri, retryWrites=False)
        database = client.get_default_database()
        database.drop_collection(args.collection)  # a fresh collection for every round
        jobstores["default"] = MongoDBJobStore(database=database.name,
                                               collection=args.collection, client=client)
        at = math.ceil(time.time() + args.lead + args.count * args.insert_ms / 1000)
    elif args.at is None:
        parser.error("--at is needed with the memory store")
    else:
        at = args.at

    finished: list[float] = []
    failures = [0]
    all_done = threading.Event()

    def listener(event: object) -> None:
        with _lock:
            finished.append(time.time())
            if getattr(event, "code", None) != EVENT_JOB_EXECUTED:
                failures[0] += 1
            if len(finished) >= args.count:
                all_done.set()

    scheduler = BackgroundScheduler(
        jobstores=jobstores,
        executors={"default": ThreadPoolExecutor(args.threads)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start(paused=True)
    run_date = datetime.fromtimestamp(at, UTC)
    for _ in range(args.count):  # each one an insert into the MongoDB store
        scheduler.add_job(fire, "date", run_date=run_date, args=[args.url, at])
    margin = at - time.time()
    counter.take(reset=True)
    cpu0 = cpu_s()
    scheduler.resume()
    sys.stdout.write(f"ready {at} {margin:.2f}\n")
    sys.stdout.flush()
    all_done.wait(max(0.0, at - time.time()) + args.timeout)
    scheduler.shutdown(wait=False)
    cpu = cpu_s() - cpu0
    counts = counter.take(reset=False)
    with _lock:
        done = len(finished)
        last = max(finished) if finished else at
        lags = sorted(_started)
    span = max(last - at, 1e-6)
    result = {
        "store": "mongodb" if args.mongo_uri else "memory",
        "ticks": args.count,
        "completed": done,
        "failures": failures[0],
        "seconds": round(span, 3),
        "rate": round(done / span, 1),
        "seedMarginS": round(margin, 2),
        "lagP50Ms": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
        "lagMaxMs": round(lags[-1] * 1000, 1) if lags else None,
        "cpuMsPerExecution": round(cpu * 1000 / done, 2) if done else None,
    }
    if args.mongo_uri:
        result.update(roundTrips=counts["total"], documentsWritten=counts["documentsWritten"],
                      writeCommands=counts["writeCommands"], commands=counts["commands"])
    sys.stdout.write("= " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
