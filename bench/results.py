"""What a bench run leaves: the figures of every section assembled, the printed table,
issue 19's markdown and one JSON line, written to ``bench/results/<time>/`` (and the JSON
to ``bench/results/latest.json``) and printed."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import api_scale, burst, report
from bench.figures import summarize
from bench.harness import Bench
from bench.procs import ROOT
from bench.table import table

RESULTS = ROOT / "bench" / "results"


def publish(bench: Bench, done: dict[str, Any], quick: bool, load_at_start: float,
            argv: list[str] | None) -> None:
    """Assemble the figures of what ran (``done``), write them to the run's folder, print them."""
    plan, run_dir, stamp = bench.plan, bench.run_dir, bench.run_dir.name
    meta = {"quick": quick, "runs": len(done["rounds"]),
            "burstRuns": len(done["burst"]), "machine": machine(),
            "loadAverageAtStart": load_at_start, "loadAverageAtEnd": os.getloadavg()[0],
            "commit": commit(), "seconds": round(bench.elapsed(), 1), "skipped": bench.skipped,
            "failed": bench.failed,
            "plan": asdict(plan), "at": stamp,
            "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])}
    figures = summarize(plan, done["rounds"], done["scale"], done["api"])
    figures["lateness"] = done["lateness"]
    figures["burst"] = burst.summary(done["burst"])
    figures["burstRounds"] = done["burst"]
    figures["apiScale"] = done.get("apiScale")
    text = "\n".join([table(figures, meta), *api_scale.lines(done.get("apiScale"))])
    figures["issue19"] = [asdict(t) for t in report.targets(figures)]
    markdown = report.markdown(figures, meta)
    line = json.dumps({"meta": meta, **figures}, default=str, separators=(",", ":"))
    (run_dir / "table.txt").write_text(text + "\n")
    (run_dir / "results.json").write_text(line + "\n")
    (run_dir / "table.md").write_text(markdown + "\n")
    shutil.copyfile(run_dir / "results.json", RESULTS / "latest.json")
    print(text)
    print()
    print(markdown)
    print()
    print(f"(took {meta['seconds']} s; results in {run_dir.relative_to(ROOT)})")
    print(line)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU {model}, Python {platform.python_version()}".strip()


def commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a snapshot without .git says what it is
        return os.environ["BENCH_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "scheduler_service"],
                               cwd=ROOT, text=True, capture_output=True, timeout=10).stdout
        return head + ("+dirty" if dirty.strip() else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
