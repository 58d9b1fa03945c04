"""``python -m bench [--quick] [--only ...] [--profile]``: the figures of issues 5 and 19.

One SecantusDB server (a fresh data directory) and one fast HTTP target, each in its own
process, serve every section; each section uses a fresh database on that server and drops
it afterwards. Sections, in this order (a section that would overrun the time budget is
skipped and says so):

1. burst: issue 19's bursts, this service against APScheduler 3 (``bench/burst.py``), every
   round;
2. light, multi, heavy: every-second jobs for a while (``bench/lateness.py``);
3. round 0: ceiling (HTTP client alone, database writes alone), throughput, APScheduler peer;
4. scale: poll cost and idle memory with few and with many registered jobs;
5. api: create and list requests per second under gunicorn;
   apiscale: list p50 per filter, stats p50 and the create rate while filling, at the
   scale section's larger size (``bench/api_scale.py``);
6. rounds 1..n-1: ceiling, throughput and peer again, for medians.

Ratios are taken within a round (side by side), then their median. Prints a table, issue
19's targets as markdown (``bench/report.py``), then one JSON line with every figure; all
go to ``bench/results/`` too.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime

from bench.harness import Bench
from bench.options import parse_args
from bench.results import RESULTS, publish
from bench.sections import run_sections


def main(argv: list[str] | None = None) -> int:
    args, plan, only = parse_args(argv, __doc__)
    load_at_start = os.getloadavg()[0]  # other work on the machine skews absolute figures
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    run_dir = RESULTS / stamp
    bench = Bench(plan, run_dir, args.profile)
    old_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.start()
        done = run_sections(bench, plan, only)
    finally:
        bench.close()
        signal.signal(signal.SIGTERM, old_term)
    if args.profile:
        bench.summarize_profiles()
    publish(bench, done, args.quick, load_at_start, argv)
    return 1 if bench.failed else 0
