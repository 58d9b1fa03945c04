"""Which sections run, in which order, and within the time budget (``run_sections``).

A section that fails is logged and named in the table, and the others still run. Where
each section lives: burst ``bench/burst.py``; light, multi, heavy ``bench/lateness.py``;
the rounds of ceiling, throughput and peer ``bench/rounds.py``; scale ``bench/scale.py``;
api ``bench/api_rate.py``; apiscale ``bench/api_scale.py``.
"""

from __future__ import annotations

from typing import Any

from bench import api_rate, api_scale, burst, lateness, scale
from bench.harness import API_KEY, Bench
from bench.options import LATENESS, Plan
from bench.rounds import run_round


def run_bursts(bench: Bench, plan: Plan) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = []
    estimate = 20 + 3 * sum(plan.burst_sizes) / 100  # three runs a size, ~100/s or more
    for number in range(plan.burst_runs):
        if number and not bench.affordable(f"burst round {number}", estimate):
            break
        result = bench.guard(f"burst round {number}",
                             lambda n=number: burst.burst_round(bench, n, plan.burst_sizes))
        if result is not None:
            rounds.append(result)
    return rounds


def run_lateness(bench: Bench, plan: Plan, only: set[str]) -> dict[str, Any]:
    done = {}
    for name, shape_of in LATENESS.items():
        shape = shape_of(getattr(plan, f"{name}_seconds"))
        if name in only and bench.affordable(name, shape.estimate_s):
            result = bench.guard(name, lambda s=shape: lateness.run(bench, s))
            if result is not None:
                done[name] = result
    return done


def run_sections(bench: Bench, plan: Plan, only: set[str]) -> dict[str, Any]:
    """Run the sections in the order of ``bench/run.py``'s docstring; return what ran."""
    done: dict[str, Any] = {"rounds": [], "scale": None, "api": None, "burst": [],
                            "lateness": {}}

    if "burst" in only:
        done["burst"] = run_bursts(bench, plan)
    done["lateness"] = run_lateness(bench, plan, only)
    if "throughput" in only:
        run_round(bench, 0, done["rounds"])
    if "scale" in only and bench.affordable("scale", 15 + plan.scale_sizes[1] / 1500):
        done["scale"] = bench.guard("scale", lambda: scale.run(bench))
    if "api" in only and bench.affordable("api", 20 + 2 * plan.api_runs * plan.api_seconds):
        done["api"] = bench.guard("api", lambda: api_rate.run(bench))
    size = plan.scale_sizes[1]  # the last twentieth through the API
    if "apiscale" in only and bench.affordable("apiscale", 30 + size / 700):
        done["apiScale"] = bench.guard("apiscale", lambda: api_scale.run(
            bench, size, size // 20, 3, API_KEY))
    if "throughput" in only:
        estimate = 25 + plan.ticks / 60 + plan.db_executions / 50
        for number in range(1, plan.runs):
            if not bench.affordable(f"round {number}", estimate):
                break
            run_round(bench, number, done["rounds"])
    return done
