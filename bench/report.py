"""Issue 19's targets: each one, the figure measured, met or not; as table rows and markdown.

``targets(figures)`` judges what ran (a target whose section did not run is left out);
``rows(figures)`` gives the lines of the bench's table; ``markdown(figures, meta)`` the
side-by-side table the README's Performance section shows, ready to paste (the bench
writes it to ``table.md`` in its results folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DOC_WRITES_TARGET = 1.5


@dataclass(frozen=True)
class Target:
    name: str  # the target, as the issue says it
    figure: str  # what was measured
    met: bool | None  # None: measured, not judged (a figure the issue asks to report)


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.{digits}f}"
    return f"{value}{unit}"


def verdict(value: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "-"}[value]


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def targets(f: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    burst = f.get("burst")
    if burst:
        for size in (k for k in burst if k.isdigit()):
            b = burst[size]
            ratio = b["ratio"]
            out.append(Target(
                f"burst {int(size):,} ticks, {burst['workers']} workers: >= 1.0x APScheduler 3 "
                "+ MongoDBJobStore",
                f"{fmt(b['serviceRate'])} vs {fmt(b['mongoPeerRate'])} exec/s = "
                f"{fmt(ratio, 'x', 2)}" + ("" if b["serviceComplete"] else " (incomplete)"),
                None if ratio is None else ratio >= 1.0 and b["serviceComplete"]))
    runs = f.get("lateness") or {}
    if "light" in runs:
        r = runs["light"]
        out.append(Target(
            f"light load ({r['jobs']} every-second jobs): start lag p99 <= 10 ms",
            f"startedAt - scheduledAt p50 {fmt(r['startLagP50Ms'])} / p99 "
            f"{fmt(r['startLagP99Ms'])} ms; at the target p50 {fmt(r['latenessP50Ms'])} / "
            f"p99 {fmt(r['latenessP99Ms'])} ms",
            _at_most(r["startLagP99Ms"], 10)))
    if "multi" in runs:
        r = runs["multi"]
        ok = _at_most(r["latenessP99Ms"], 50)
        out.append(Target(
            f"{r['jobs']} every-second jobs on {r['processes']} processes, 5 min: 0 misses, "
            "0 duplicates, lateness p99 <= 50 ms",
            f"{_seconds(r['seconds'])}: {r['misses']:,} misses, {r['duplicates']:,} duplicates "
            f"of {r['expectedTicks']:,}; lateness p50 {fmt(r['latenessP50Ms'])} / p99 "
            f"{fmt(r['latenessP99Ms'])} / max {fmt(r['latenessMaxMs'])} ms",
            None if ok is None else ok and r["misses"] == 0 and r["duplicates"] == 0))
    if "heavy" in runs:
        r = runs["heavy"]
        ok = _at_most(r["latenessP99Ms"], 100)
        out.append(Target(
            f"{r['jobs']} every-second jobs on one process, 2 min: every tick runs, "
            "lateness p99 <= 100 ms",
            f"{_seconds(r['seconds'])}: {r['delivered']:,} of {r['expectedTicks']:,} ticks "
            f"ran, {r['duplicates']} duplicates; lateness p50 {fmt(r['latenessP50Ms'])} / "
            f"p99 {fmt(r['latenessP99Ms'])} / max {fmt(r['latenessMaxMs'])} ms",
            None if ok is None else ok and r["misses"] == 0 and r["duplicates"] == 0))
    out += _api_scale(f.get("apiScale"))
    writes = _doc_writes(f)
    if writes:
        worst = max(v for _, v in writes)
        out.append(Target(
            f"document writes per execution <= {DOC_WRITES_TARGET}",
            ", ".join(f"{label} {v:.2f}" for label, v in writes),
            worst <= DOC_WRITES_TARGET))
    cpu = _service_cpu(f)
    if cpu:
        out.append(Target("service CPU per execution (reported)",
                          ", ".join(f"{label} {v:.2f} ms" for label, v in cpu), None))
    return out


def _api_scale(scale: dict[str, Any] | None) -> list[Target]:
    """The API at scale (``bench/api_scale.py``, the ``apiscale`` section): page 2 of the
    plain list (the issue's ``GET /api/jobs?page=2&limit=20``), stats, the create rate."""
    if not scale:
        return []
    at = f"at {scale['jobs']:,} registered jobs"
    rows = scale.get("list") or []
    page = next((r for r in rows if r.get("filter") == "page 2"), None)
    slowest = max(rows, key=lambda r: r["p50Ms"], default=None)
    out = []
    if page is not None:
        worst = "" if slowest is None else (
            f" (slowest filter: {slowest['filter']}, {fmt(slowest['p50Ms'])} ms)")
        out.append(Target(f"API {at}: list page p50 <= 50 ms",
                          f"page 2 p50 {fmt(page['p50Ms'])} ms{worst}",
                          _at_most(page["p50Ms"], 50)))
    stats = (scale.get("stats") or {}).get("p50Ms")
    if stats is not None:
        out.append(Target(f"API {at}: stats p50 <= 100 ms", f"p50 {fmt(stats)} ms",
                          _at_most(stats, 100)))
    rate = (scale.get("create") or {}).get("perSecond")
    if rate is not None:
        out.append(Target(f"API {at}: create >= 300/s", f"{fmt(rate)}/s", rate >= 300))
    return out


def _seconds(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _per_run(f: dict[str, Any], burst_key: str, run_key: str) -> list[tuple[str, float]]:
    """A per-execution figure of every burst size and every lateness run that has it."""
    found = []
    for size, b in (f.get("burst") or {}).items():
        if size.isdigit() and b[burst_key] is not None:
            found.append((f"burst {size}", b[burst_key]))
    for name, r in (f.get("lateness") or {}).items():
        if r.get(run_key) is not None:
            found.append((name, r[run_key]))
    return found


def _doc_writes(f: dict[str, Any]) -> list[tuple[str, float]]:
    return _per_run(f, "serviceDocWritesPerExecution", "documentWritesPerExecution")


def _service_cpu(f: dict[str, Any]) -> list[tuple[str, float]]:
    return _per_run(f, "serviceCpuMsPerExecution", "serviceCpuMsPerExecution")


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The issue-19 lines of the bench's table: the detail, then every target judged."""
    out: list[tuple[str, str, str, str]] = []
    burst = f.get("burst")
    if burst:
        for size in (k for k in burst if k.isdigit()):
            b = burst[size]
            out += [
                (f"burst {int(size):,}: this service (records every attempt)",
                 fmt(b["serviceRate"], " exec/s"),
                 f"{fmt(b['serviceDocWritesPerExecution'], '', 2)} doc writes "
                 f"({fmt(b['serviceWriteOpsPerExecution'], '', 2)} write ops), CPU "
                 f"{fmt(b['serviceCpuMsPerExecution'], '', 2)} ms, DB CPU "
                 f"{fmt(b['serviceDbCpuMsPerExecution'], '', 2)} ms /exec", ""),
                (f"burst {int(size):,}: APScheduler 3 + MongoDBJobStore",
                 fmt(b["mongoPeerRate"], " exec/s"),
                 f"{fmt(b['mongoPeerDocWritesPerExecution'], '', 2)} doc writes "
                 f"({fmt(b['mongoPeerWriteOpsPerExecution'], '', 2)} write ops), CPU "
                 f"{fmt(b['mongoPeerCpuMsPerExecution'], '', 2)} ms, DB CPU "
                 f"{fmt(b['mongoPeerDbCpuMsPerExecution'], '', 2)} ms /exec", ""),
                (f"burst {int(size):,}: APScheduler 3, memory store",
                 fmt(b["memoryPeerRate"], " exec/s"), "no database", ""),
            ]
    for name, r in (f.get("lateness") or {}).items():
        out += [
            (f"{name}: {r['jobs']} every-second jobs, {r['processes']} process(es), "
             f"{r['seconds']} s",
             f"lateness at target p50 {fmt(r['latenessP50Ms'])} / p99 "
             f"{fmt(r['latenessP99Ms'])} / max {fmt(r['latenessMaxMs'])} ms",
             f"start lag p50 {fmt(r['startLagP50Ms'])} / p99 {fmt(r['startLagP99Ms'])} / "
             f"max {fmt(r['startLagMaxMs'])} ms", ""),
            (f"{name}: ticks delivered / due", f"{r['delivered']:,} / {r['expectedTicks']:,}",
             f"misses {r['misses']:,}, duplicates {r['duplicates']:,}", ""),
            (f"{name}: per execution",
             f"{fmt(r['documentWritesPerExecution'], '', 2)} doc writes",
             f"{fmt(r['writeOpsPerExecution'], '', 2)} write ops, service CPU "
             f"{fmt(r['serviceCpuMsPerExecution'], '', 2)} ms, DB CPU "
             f"{fmt(r['dbCpuMsPerExecution'], '', 2)} ms", ""),
        ]
    for target in targets(f):
        out.append((f"TARGET {target.name}", target.figure, "", verdict(target.met)))
    return out


def markdown(f: dict[str, Any], meta: dict[str, Any]) -> str:
    """Issue 19's targets as the README's side-by-side table, with machine and command."""
    if not targets(f):
        return "(no issue-19 section ran)"
    lines = [
        f"Measured with `{meta.get('command', 'python -m bench')}` on {meta['machine']}, "
        f"commit {meta['commit']}, load average {meta['loadAverageAtStart']:.1f} at start "
        f"({meta.get('burstRuns', meta['runs'])} burst round(s), medians):",
        "",
    ]
    lines += _side_by_side(f.get("burst"))
    lines += ["| target (issue 19) | measured | met |", "|---|---|---|"]
    for target in targets(f):
        lines.append(f"| {target.name} | {target.figure} | {verdict(target.met)} |")
    return "\n".join(lines)


def _side_by_side(burst: dict[str, Any] | None) -> list[str]:
    """The burst's figures, this service beside APScheduler 3 (MongoDB store, memory store)."""
    if not burst:
        return []
    lines = [f"| burst, {burst['workers']} workers, per execution | this service | "
             "APScheduler 3 + MongoDBJobStore | APScheduler 3, memory store |",
             "|---|---|---|---|"]
    for size in (k for k in burst if k.isdigit()):
        b = burst[size]
        lines += [
            f"| {int(size):,} ticks due in one second: executions/s | "
            f"{fmt(b['serviceRate'])}{'' if b['serviceComplete'] else ' (incomplete)'} | "
            f"{fmt(b['mongoPeerRate'])} | {fmt(b['memoryPeerRate'])} |",
            f"| {int(size):,}: document writes (write commands) | "
            f"{fmt(b['serviceDocWritesPerExecution'], '', 2)} "
            f"({fmt(b['serviceWriteOpsPerExecution'], '', 2)}) | "
            f"{fmt(b['mongoPeerDocWritesPerExecution'], '', 2)} "
            f"({fmt(b['mongoPeerWriteOpsPerExecution'], '', 2)}) | 0 |",
            f"| {int(size):,}: CPU ms, scheduler process / database | "
            f"{fmt(b['serviceCpuMsPerExecution'], '', 2)} / "
            f"{fmt(b['serviceDbCpuMsPerExecution'], '', 2)} | "
            f"{fmt(b['mongoPeerCpuMsPerExecution'], '', 2)} / "
            f"{fmt(b['mongoPeerDbCpuMsPerExecution'], '', 2)} | "
            f"{fmt(b.get('memoryPeerCpuMsPerExecution'), '', 2)} / - |",
        ]
    return [*lines, ""]
