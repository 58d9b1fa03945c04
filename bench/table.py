"""The bench's printed table: issue 19's rows (``bench/report.py``), then the ceiling,
throughput, scale, api and peer figures, with the run's machine, commit and load."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.report import fmt, verdict


def table(f: dict[str, Any], meta: dict[str, Any]) -> str:
    t = f["targets"]
    rows: list[tuple[str, str, str, str]] = report.rows(f)
    c, tp, peer = f["ceiling"], f["throughput"], f["peer"]
    if f["runs"]:
        rows += [
            ("ceiling: HTTP client alone", fmt(c["httpRate"], " req/s"), "", ""),
            ("ceiling: DB writes of one execution", fmt(c["dbRate"], " exec/s"),
             f"64 thr {fmt(c['dbRateAt64'])}, 1 thr {fmt(c['dbRateAt1'])}", ""),
            ("ceiling (lower of the two)", fmt(c["rate"], " exec/s"), "", ""),
            (f"throughput: {tp['ticks']} ticks due at once", fmt(tp["rate"], " exec/s"),
             "", ""),
            ("throughput / ceiling", fmt(tp["ratioToCeiling"], "", 2), ">= 0.70",
             verdict(t["throughput>=70%ceiling"])),
            ("DB round trips per execution", fmt(tp["roundTripsPerExecution"], "", 2), "<= 2",
             verdict(t["roundTrips<=2"])),
        ]
    scale = f.get("scale")
    if scale:
        small, large = (scale[k] for k in sorted(scale, key=int))
        for s in (small, large):
            rows.append((f"poll cost, {s['jobs']:,} jobs ({s['due']:,} due)",
                         f"{fmt(s['pollMs'])} ms = query {fmt(s['queryMs'])} + "
                         f"{fmt(s['claimedPerPoll'], '', 0)} claims {fmt(s['claimMs'])}",
                         f"{fmt(s['pollMsPerClaim'], ' ms/claim', 2)}", ""))
        rows += [
            ("poll cost, large / small", fmt(t["pollCostRatio"], "x", 2),
             "<= 1.5x", verdict(t["pollCost<=1.5x"])),
            ("  per claim / query alone", f"{fmt(t['pollCostPerClaimRatio'], 'x', 2)} / "
             f"{fmt(t['pollQueryRatio'], 'x', 1)}", "", ""),
            ("idle RSS, small / large",
             f"{small['idleRssKiB'] / 1024:.1f} / {large['idleRssKiB'] / 1024:.1f} MiB",
             "<= 1.2x", verdict(t["idleRss<=1.2x"])),
            ("idle DB CPU, small / large",
             f"{small['idleDbCpuPercent']}% / {large['idleDbCpuPercent']}%", "", ""),
        ]
    api = f.get("api")
    if api:
        rows += [
            (f"API create (gunicorn {api['workers']}x{api['threadsPerWorker']}, "
             f"{api['clients']} clients)",
             f"{fmt(api['create']['rps'], ' req/s')} p99 {fmt(api['create']['p99Ms'])} ms",
             "", ""),
            (f"API list (20 of {api['jobsWhenListing']:,} jobs)",
             f"{fmt(api['list']['rps'], ' req/s')} p99 {fmt(api['list']['p99Ms'])} ms", "", ""),
        ]
    if f["runs"]:
        rows += [
            ("peer: APScheduler 3, same ticks", fmt(peer["rate"], " exec/s"),
             f"{fmt(peer['ratioToHttpCeiling'], '', 2)} of HTTP ceiling", ""),
            ("service / peer", fmt(peer["serviceToPeer"], "", 2), "", ""),
        ]
    if not rows:
        rows.append(("(no section ran)", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("figure", "value", "target / note", "")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    lines = [f"scheduler bench ({'quick' if meta['quick'] else 'full'}): "
             f"{meta['runs']} run(s), median; {meta['machine']}; commit {meta['commit']}; "
             f"load average {meta['loadAverageAtStart']:.1f} at start"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if meta["skipped"]:
        lines.append(f"skipped for the time budget: {', '.join(meta['skipped'])}")
    if meta.get("failed"):
        lines.append(f"FAILED (see the log above): {'; '.join(meta['failed'])}")
    return "\n".join(lines)
