"""The peer: APScheduler 3 firing the same HTTP ticks at the same target, in its own process.

``BackgroundScheduler`` with a thread pool of the service's size and the in-memory job
store; ``count`` date-triggered jobs all due at ``--at`` (epoch seconds). Each job POSTs the
same body with a per-thread Session made like the HTTP ceiling's. Prints one line
``= {json}``: completions, the rate from the due second to the last completion, and the
start lag. APScheduler records no history: its ceiling is the HTTP client's.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bench.ceiling import plain_session

BODY = b'{"bench":true}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    local = threading.local()
    lock = threading.Lock()
    started: list[float] = []
    finished: list[float] = []
    failures = [0]
    all_done = threading.Event()

    def fire() -> None:
        now = time.time()
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = plain_session()
        response = session.post(args.url, data=BODY, timeout=30,
                                headers={"Content-Type": "application/json"})
        response.content  # noqa: B018 - read the body
        with lock:
            started.append(now)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    def listener(event: object) -> None:
        with lock:
            finished.append(time.time())
            if getattr(event, "code", None) != EVENT_JOB_EXECUTED:
                failures[0] += 1
            if len(finished) >= args.count:
                all_done.set()

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(args.threads)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    run_date = datetime.fromtimestamp(args.at, UTC)
    for _ in range(args.count):
        scheduler.add_job(fire, "date", run_date=run_date)
    scheduler.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    all_done.wait(max(0.0, args.at - time.time()) + args.timeout)
    scheduler.shutdown(wait=False)
    with lock:
        done = len(finished)
        last = max(finished) if finished else args.at
        lags = sorted(s - args.at for s in started)
    span = max(last - args.at, 1e-6)
    result = {
        "completed": done,
        "failures": failures[0],
        "seconds": round(span, 3),
        "rate": round(done / span, 1),
        "lagP50Ms": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
        "lagMaxMs": round(lags[-1] * 1000, 1) if lags else None,
    }
    sys.stdout.write("= " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
