"""The figures of the rounds, scale and api sections: medians across the rounds (a ratio
is taken within a round, then its median) and the targets of issue 5 they are judged by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.options import Plan
from bench.stats import median


def summarize(plan: Plan, rounds: list[dict[str, Any]],
              scale: dict[str, Any] | None, api: dict[str, Any] | None) -> dict[str, Any]:
    def across(key: str, field: str) -> float | None:
        return median([r[key][field] for r in rounds if key in r])

    ratios = [r["throughput"]["rate"] / r["ceiling"]["rate"]
              for r in rounds if "throughput" in r and r["ceiling"]["rate"]]
    peer_ratios = [r["peer"]["rate"] / r["ceiling"]["httpRate"]
                   for r in rounds if "peer" in r and r["ceiling"]["httpRate"]]
    vs_peer = [r["throughput"]["rate"] / r["peer"]["rate"]
               for r in rounds if "peer" in r and "throughput" in r and r["peer"]["rate"]]
    figures: dict[str, Any] = {
        "ceiling": {
            "httpRate": across("ceiling", "httpRate"),
            "dbRate": across("ceiling", "dbRate"),
            "dbRateAt64": across("ceiling", "dbRateAt64"),
            "dbRateAt1": across("ceiling", "dbRateAt1"),
            "rate": across("ceiling", "rate"),
        },
        "throughput": {
            "ticks": plan.ticks,
            "rate": across("throughput", "rate"),
            "ratioToCeiling": median(ratios),
            "roundTripsPerExecution": across("throughput", "roundTripsPerExecution"),
            "startLagP50Ms": across("throughput", "startLagP50Ms"),
        },
        "peer": {
            "name": "APScheduler 3 BackgroundScheduler",
            "rate": across("peer", "rate"),
            "ratioToHttpCeiling": median(peer_ratios),
            "serviceToPeer": median(vs_peer),
        },
        "scale": scale,
        "api": api,
        "runs": len(rounds),
        "rounds": rounds,
    }
    figures["targets"] = targets(figures)
    return figures


def targets(f: dict[str, Any]) -> dict[str, Any]:
    def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
        return None if value is None else bool(ok(value))

    out: dict[str, Any] = {}
    out["throughput>=70%ceiling"] = check(f["throughput"]["ratioToCeiling"], lambda v: v >= 0.7)
    out["roundTrips<=2"] = check(f["throughput"]["roundTripsPerExecution"], lambda v: v <= 2)
    scale = f.get("scale")
    if scale:
        small, large = (scale[k] for k in sorted(scale, key=int))
        # The target compares one whole poll (queries + the claims of what it returned);
        # per claim and query alone are shown to tell the two causes apart.
        out["pollCostRatio"] = round(large["pollMs"] / small["pollMs"], 2)
        per_claim = (large["pollMsPerClaim"] / small["pollMsPerClaim"]
                     if large["pollMsPerClaim"] and small["pollMsPerClaim"] else None)
        out["pollCostPerClaimRatio"] = round(per_claim, 2) if per_claim else None
        out["pollQueryRatio"] = round(large["queryMs"] / small["queryMs"], 2)
        out["pollCost<=1.5x"] = check(out["pollCostRatio"], lambda v: v <= 1.5)
        rss = large["idleRssKiB"] / small["idleRssKiB"]
        out["idleRssRatio"] = round(rss, 3)
        out["idleRss<=1.2x"] = rss <= 1.2
    return out
