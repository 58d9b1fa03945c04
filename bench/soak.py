"""Soak: many every-second jobs on several service processes sharing one SecantusDB.

    .venv/bin/python bench/soak.py                       # 200 jobs, 3 processes, 5 minutes
    .venv/bin/python bench/soak.py --duration 30 --jobs 50   # a smoke run

Starts a dedicated SecantusDB, a fast local HTTP target in its own process
(``tests/support/recording_target.py``, which logs every request's job id, scheduled time
and Idempotency-Key to a file) and ``--processes`` service processes (gunicorn, one worker
each: API and scheduler). Creates ``--jobs`` jobs firing every second, watches whole
seconds for ``--duration`` seconds, and prints:

- duplicates: requests beyond the first for one (job, scheduled second);
- misses: (job, second) pairs of the window with no request at all;
- lateness of each request behind its scheduled time (p50, p99, max);
- resident memory of every service process and the database at start, middle and end.

The last line is one JSON object with all figures. Not run in CI. Everything started is
killed at the end, even on Ctrl-C. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/soak.py` puts bench/ first, not the repository
    sys.path.insert(0, str(ROOT))

SECOND = timedelta(seconds=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=300, help="observed seconds")
    parser.add_argument("--jobs", type=int, default=200, help="every-second jobs")
    parser.add_argument("--processes", type=int, default=3, help="service processes")
    parser.add_argument("--poll-interval", type=int, default=1000,
                        help="SCHEDULER_POLL_INTERVAL (the service's default)")  # fmt: skip
    parser.add_argument("--max-concurrent", type=int, default=20, help="MAX_CONCURRENT_JOBS")
    parser.add_argument("--warmup", type=int, default=5, help="seconds before the window")
    parser.add_argument("--keep", type=Path, help="keep logs and data here (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    work.mkdir(parents=True, exist_ok=True)
    from tests.support.processes import ProcessGroup

    group = ProcessGroup(work, print_logs=False)
    try:
        figures = soak(args, work, group)
    finally:
        group.close()
    print(f"logs and data in {work}")
    print(json.dumps(figures, sort_keys=True))
    return 0 if figures["duplicates"] == 0 and figures["misses"] == 0 else 1


def soak(args: argparse.Namespace, work: Path, group: Any) -> dict[str, Any]:
    import requests

    from bench.procs import cpu_seconds
    from tests.support.processes import service_env
    from tests.support.recording_target import start_recording_target

    database, uri = group.secantus("secantus", work / "db")
    target_log = work / "target.requests"
    target, target_url = start_recording_target(group, target_log)
    group.wait_ready()
    env = service_env(
        uri, SCHEDULER_POLL_INTERVAL=args.poll_interval, MAX_CONCURRENT_JOBS=args.max_concurrent,
        JOB_LEASE_TIMEOUT=10000, JOB_TIMEOUT=5000, LOG_LEVEL="WARNING",
    )  # fmt: skip
    services = [group.gunicorn(f"service-{n}", env) for n in range(1, args.processes + 1)]
    group.wait_ready(60)
    say(f"{args.processes} service processes up; creating {args.jobs} jobs")

    session = requests.Session()
    endpoint = f"{target_url}/tick"
    job_ids = []
    for n in range(args.jobs):
        answer = session.post(
            f"{services[n % len(services)].base_url}/api/jobs",
            json={"schedule": "* * * * * *", "endpoint": endpoint, "body": {"n": n}},
            timeout=10,
        )
        answer.raise_for_status()
        job_ids.append(answer.json()["data"]["jobId"])
    window_start = datetime.now(UTC).replace(microsecond=0) + (args.warmup + 1) * SECOND
    window_end = window_start + args.duration * SECOND  # exclusive
    say(f"window {iso(window_start)} .. {iso(window_end)}")

    pids = {"db": database.pid} | {
        f"{s.name}:{pid}": pid for s in services for pid in s.worker_pids()
    }
    memory: dict[str, dict[str, int | None]] = {}
    cpu: dict[str, float] = {}
    for label, at in (("start", 0), ("middle", args.duration // 2), ("end", args.duration - 1)):
        sleep_until(window_start + at * SECOND)
        memory[label] = sample_rss(pids)
        if label != "middle":  # CPU seconds each process spent in the window, start to end
            cpu = {k: cpu_seconds(pid) - cpu.get(k, 0.0) for k, pid in pids.items()}
        say(f"rss {label}: " + ", ".join(f"{k}={v} KiB" for k, v in memory[label].items()))
    sleep_until(window_end + 3 * SECOND)  # the window's last ticks arrive (bounded)
    target.signal(signal.SIGTERM)
    target.wait_exit(10)
    figures = analyse(target_log, job_ids, window_start, window_end, args)
    figures["rssKiB"] = memory
    seconds = max(1, args.duration - 1)
    figures["cpuShare"] = {k: round(v / seconds, 2) for k, v in cpu.items()}  # 1.0 = one core
    figures["dbCpuMsPerRequest"] = round(cpu["db"] * 1000 / max(1, figures["requests"]), 2)
    figures["processesAlive"] = all(s.alive() for s in services) and database.alive()
    report(figures)
    return figures


def analyse(
    log: Path, job_ids: list[str], start: datetime, end: datetime, args: argparse.Namespace
) -> dict[str, Any]:
    from tests.support.recording_target import read_records

    ticks: Counter[tuple[str, str]] = Counter()
    keys: Counter[str] = Counter()
    lateness_ms: list[float] = []
    for record in read_records(log):
        if not start <= record.scheduled < end:
            continue
        ticks[(record.job_id, record.scheduled_at)] += 1
        keys[record.key] += 1
        lateness_ms.append((record.received - record.scheduled.timestamp()) * 1000)
    seconds = [iso(start + n * SECOND) for n in range(args.duration)]
    expected = {(job_id, second) for job_id in job_ids for second in seconds}
    lateness_ms.sort()
    return {
        "jobs": len(job_ids),
        "processes": args.processes,
        "durationS": args.duration,
        "expectedTicks": len(expected),
        "requests": sum(ticks.values()),
        "duplicates": sum(n - 1 for n in ticks.values() if n > 1),
        "duplicateKeys": sum(n - 1 for n in keys.values() if n > 1),
        "misses": len(expected - set(ticks)),
        "latenessMs": {
            "p50": round(statistics.median(lateness_ms), 1) if lateness_ms else None,
            "p99": round(lateness_ms[int(len(lateness_ms) * 0.99) - 1], 1) if lateness_ms else None,
            "max": round(lateness_ms[-1], 1) if lateness_ms else None,
        },
    }


def report(figures: dict[str, Any]) -> None:
    say(f"requests {figures['requests']} of {figures['expectedTicks']} expected; "
        f"duplicates {figures['duplicates']}; misses {figures['misses']}")  # fmt: skip
    say(f"lateness ms p50 {figures['latenessMs']['p50']} p99 {figures['latenessMs']['p99']} "
        f"max {figures['latenessMs']['max']}")  # fmt: skip
    say(f"cpu (cores): {figures['cpuShare']}; database CPU per request "
        f"{figures['dbCpuMsPerRequest']} ms")  # fmt: skip
    for label in figures["rssKiB"]["start"]:
        row = [figures["rssKiB"][when].get(label) for when in ("start", "middle", "end")]
        say(f"rss {label}: " + " -> ".join(f"{v} KiB" for v in row))


def sample_rss(pids: dict[str, int]) -> dict[str, int | None]:
    from tests.support.service_process import rss_kib

    return {label: rss_kib(pid) for label, pid in pids.items()}


def sleep_until(when: datetime) -> None:
    with contextlib.suppress(ValueError):
        time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def say(message: str) -> None:
    print(f"[soak {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
