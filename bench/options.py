"""The bench's command line: its sections, the full and quick plans, and the flags that
change them (``python -m bench --help``)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from bench import burst, lateness


@dataclass(frozen=True)
class Plan:
    runs: int  # rounds of ceiling + throughput + peer
    ticks: int  # throughput: ticks due in the same second (and the peer's)
    http_requests: int  # HTTP ceiling
    db_executions: int  # database ceiling, per concurrency level
    light_seconds: int  # 20 every-second jobs, one process
    multi_seconds: int  # 200 every-second jobs, three processes
    heavy_seconds: int  # 500 every-second jobs, one process
    scale_sizes: tuple[int, int]
    poll_reps: int
    idle_seconds: float
    api_runs: int
    api_seconds: float
    api_threads: int
    burst_runs: int  # rounds of the issue-19 burst (service, two APScheduler peers)
    burst_sizes: tuple[int, ...]


FULL = Plan(runs=3, ticks=5000, http_requests=5000, db_executions=800, light_seconds=60,
            multi_seconds=60, heavy_seconds=120, scale_sizes=(1000, 100_000), poll_reps=5,
            idle_seconds=4.0,
            api_runs=3, api_seconds=5.0, api_threads=16, burst_runs=3,
            burst_sizes=burst.SIZES)
QUICK = Plan(runs=1, ticks=1000, http_requests=2000, db_executions=300, light_seconds=10,
             multi_seconds=20, heavy_seconds=20, scale_sizes=(1000, 20_000), poll_reps=3,
             idle_seconds=3.0,
             api_runs=1, api_seconds=3.0, api_threads=16, burst_runs=1,
             burst_sizes=burst.SIZES)

SECTIONS = ("burst", "light", "multi", "heavy", "throughput", "scale", "api", "apiscale")
QUICK_SECTIONS = ("burst", "light", "multi", "heavy", "apiscale")  # --quick: issue 19's, shorter
LATENESS = {"light": lateness.light, "multi": lateness.multi, "heavy": lateness.heavy}


def parse_args(argv: list[str] | None,
               description: str | None) -> tuple[argparse.Namespace, Plan, set[str]]:
    """The flags, the plan they make and the sections chosen; ``description`` heads --help."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="issue 19's sections, shorter (about 3 minutes)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)} "
                        f"(default: all; with --quick: {','.join(QUICK_SECTIONS)})")
    parser.add_argument("--runs", type=int,
                        help="rounds of the burst and of ceiling/throughput/peer (1-10)")
    parser.add_argument("--light-seconds", type=int, help="window of the light run (5-600)")
    parser.add_argument("--multi-seconds", type=int,
                        help="window of the 3-process run (5-600; the issue's target: 300)")
    parser.add_argument("--heavy-seconds", type=int, help="window of the 500-job run (5-600)")
    parser.add_argument("--burst-sizes", help="comma-separated burst sizes (default 600,2000)")
    parser.add_argument("--profile", action="store_true",
                        help="record py-spy profiles of the service and the database during "
                             "round 0 of the burst and the throughput, and the light, multi and "
                             "heavy runs "
                             "(into the results folder)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {}
    if args.runs:
        overrides["runs"] = overrides["burst_runs"] = max(1, min(args.runs, 10))
    for shape in LATENESS:
        if getattr(args, f"{shape}_seconds"):
            overrides[f"{shape}_seconds"] = max(5, min(getattr(args, f"{shape}_seconds"), 600))
    if args.burst_sizes:
        overrides["burst_sizes"] = tuple(max(1, min(int(n), 20_000))
                                         for n in args.burst_sizes.split(","))
    plan = Plan(**{**asdict(plan), **overrides})
    chosen = args.only or ",".join(QUICK_SECTIONS if args.quick else SECTIONS)
    only = {s.strip() for s in chosen.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args, plan, only
