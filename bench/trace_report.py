"""Read a ``BENCH_TRACE`` directory (``bench/trace.py``): per process, how late its ticks
started and why. ``python -m bench.trace_report DIR``.

Each attempt of the window (the first 4 and last 2 seconds of ticks left out) is put in one
class by how its tick was claimed: ``pre-claimed`` (in the write of the tick before it),
or claimed by this process with the claim's answer back before or after the tick's time,
as a tick the poll found, a follow-up queued after the job's previous claim, or an entry
(retry, orphan); ``pair``: that claim took the next tick too. Also per process: claims,
candidates and those lost (to another process), the claims' round trips and when they
were sent, the worker's time per attempt (the request, then the record), and the
pre-claimed ticks' verdicts.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def report(directory: Path) -> str:
    procs = {f.stem: [json.loads(line) for line in f.open()]
             for f in sorted(directory.glob("*.jsonl"))}  # fmt: skip
    dues = sorted({e["due"] for events in procs.values() for e in events if e["e"] == "run"})
    if not dues:
        return "no attempts traced"
    lo, hi = dues[0] + 4, dues[-1] - 2
    won: dict[tuple[str, float], tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for name, events in procs.items():
        for e in events:
            for c in e.get("c", ()):
                if e["e"] == "claim" and c["won"]:
                    won[(c["job"], c["due"])] = (name, e, c)
    out = []
    for name, events in procs.items():
        runs = [e for e in events if e["e"] == "run" and lo <= e["due"] < hi]
        late = {e["job"]: 0.0 for e in runs}
        classes: dict[str, list[float]] = defaultdict(list)
        for e in runs:
            start = (e["t"] - e["due"]) * 1000
            late[e["job"]] = start
            claimed = won.get((e["job"], e["due"]))
            if claimed is None:
                kind = "pre-claimed"
            else:
                _, claim, c = claimed
                when = "before" if claim["back"] < e["due"] else "after"
                kind = f"claim back {when} its time, {c['kind']}" + (", pair" if c["pre"] else "")
            classes[kind].append(start)
        starts = [v for vs in classes.values() for v in vs]
        claims = [e for e in events if e["e"] == "claim"
                  and any(lo <= c["due"] < hi for c in e["c"])]  # fmt: skip
        candidates = [c for e in claims for c in e["c"]]
        lost = [c for c in candidates if not c["won"]]
        trips = [(e["back"] - e["sent"]) * 1000 for e in claims]
        sent = [(e["sent"] - min(c["due"] for c in e["c"])) * 1000 for e in claims]
        busy = [(e["end"] - e["t"]) * 1000 for e in runs]
        http = [(e["http"][1] - e["http"][0]) * 1000 for e in runs if e.get("http")]
        per_second = Counter(int(e["due"]) for e in runs)
        out.append(
            f"process {name}: {len(runs)} attempts ({pct(list(per_second.values()), 0.5):.0f} a "
            f"second), worker began p50 {pct(starts, 0.5):.0f} / p99 {pct(starts, 0.99):.0f} ms"
            " (one claimed ahead begins 10 ms early; its request waits for its time)\n"
            f"  {len(claims)} claims of {len(candidates)} candidates, {len(lost)} lost "
            f"({dict(Counter(c['kind'] for c in lost))}); round trip p50 {pct(trips, 0.5):.0f}"
            f" / p90 {pct(trips, 0.9):.0f} ms; sent after the first tick's time p10 "
            f"{pct(sent, 0.1):.0f} / p50 {pct(sent, 0.5):.0f} / p90 {pct(sent, 0.9):.0f} ms\n"
            f"  worker per attempt p50 {pct(busy, 0.5):.0f} / p90 {pct(busy, 0.9):.0f} ms "
            f"(the request p50 {pct(http, 0.5):.1f} ms); pre-claimed verdicts "
            f"{dict(Counter(e['v'] for e in events if e['e'] == 'verdict'))}")
        for kind, values in sorted(classes.items(), key=lambda item: -len(item[1])):
            out.append(f"  {len(values):5d} {kind:40s} began p50 {pct(values, 0.5):6.0f} / "
                       f"p99 {pct(values, 0.99):6.0f} ms")
    return "\n".join(out + stages(directory, procs))


STAGES = (("handed to its worker", "entered"), ("its worker awake", "woke"),
          ("request out", "sent"), ("at the target", "arrived"), ("recording", "recorded"))
BUSY = ("gc", "poll", "flush")  # what else took the GIL: collections, polls, group commits


def _arrivals(directory: Path) -> dict[tuple[str, float], float]:
    """(job, tick) -> when the target read it (written by the lateness section)."""
    arrived: dict[tuple[str, float], float] = {}
    if (directory / "arrivals.txt").exists():
        for line in (directory / "arrivals.txt").open():
            at, job, due = line.split()
            arrived[(job, round(float(due), 3))] = float(at)
    return arrived


def stages(directory: Path, procs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Per process, each stage of the attempts of ticks claimed ahead (``stage`` events),
    relative to the tick's time; per second, the first to wake and the spread to the last;
    and how often a collection, poll or group commit ran within a second's first 30 ms."""
    arrived = _arrivals(directory)
    out = []
    for name, events in procs.items():
        rows = [e for e in events if e["e"] == "stage" and e.get("wait")]
        if not rows:
            continue
        dues = sorted({e["due"] for e in rows})
        lo, hi = dues[0] + 4, dues[-1] - 2
        times: dict[str, list[float]] = defaultdict(list)
        seconds: dict[float, list[float]] = defaultdict(list)
        for e in rows:
            if not lo <= e["due"] < hi:
                continue
            at = {"entered": e["wait"][0], "woke": e["wait"][1], "sent": e.get("sent"),
                  "arrived": arrived.get((e["job"], round(e["due"], 3))),
                  "recorded": e["record"][0]}
            for key, value in at.items():
                if value is not None:
                    times[key].append((value - e["due"]) * 1000)
            seconds[e["due"]].append((e["wait"][1] - e["due"]) * 1000)
        out.append(f"process {name}: stages of {len(times['woke'])} attempts claimed ahead, "
                   "ms after the tick's time (p50 / p90 / p99 / max)")
        for label, key in STAGES:
            values = times[key]
            if values:
                out.append(f"  {label:22s} " + " / ".join(
                    f"{pct(values, q):6.1f}" for q in (0.5, 0.9, 0.99, 1.0)))
        out.extend(_spreads(events, seconds, lo, hi))
    return out


def _spreads(events: list[dict[str, Any]], seconds: dict[float, list[float]], lo: float,
             hi: float) -> list[str]:  # fmt: skip
    out = []
    if seconds:
        first = [min(v) for v in seconds.values()]
        spread = [max(v) - min(v) for v in seconds.values()]
        out.append(f"  per second: first awake p50 {pct(first, 0.5):.1f} / p90 "
                   f"{pct(first, 0.9):.1f} ms, last awake after it p50 {pct(spread, 0.5):.1f}"
                   f" / p90 {pct(spread, 0.9):.1f} ms")
        busy = Counter(e["e"].split(":")[0] for e in events
                       if e["e"].split(":")[0] in BUSY and lo <= e["end"] and e["t"] < hi
                       and (e["t"] % 1 < 0.03 or e["end"] % 1 < 0.03))  # fmt: skip
        out.append(f"  within a second's first 30 ms, of {len(seconds)} seconds: "
                   + ", ".join(f"{kind} {busy[kind]}" for kind in BUSY))
    return out


if __name__ == "__main__":
    print(report(Path(sys.argv[1])))
