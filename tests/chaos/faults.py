"""The fault plan of a chaos run: which fault strikes when, drawn from a seeded random.

Faults come one after the other, each followed by a quiet stretch; clock skew is not in
the plan, it is on all along (two of the three schedulers run skewed). Each fault's window
for the checker starts a lease before it strikes (attempts then in flight feel it) and ends
once its effects are over: a lease has run out and a few polls passed (``RECOVERY_S``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.chaos.cluster import LEASE_MS, POLL_MS, SCHEDULERS, Cluster
from tests.chaos.history import FaultWindow

KINDS = ["db-crash", "kill-9", "net-latency", "net-reset", "net-blackhole"]
LEASE_S = LEASE_MS / 1000
RECOVERY_S = LEASE_S + 4 * POLL_MS / 1000 + 1.0


@dataclass(frozen=True)
class Fault:
    kind: str
    duration_s: float
    detail: str  # the victim, the latency, ...

    def run(self, cluster: Cluster, log: Callable[[str], None]) -> None:
        """Strike, hold for ``duration_s``, heal."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        log(f"{stamp} {self.kind} {self.detail} for {self.duration_s:.1f} s")
        if self.kind == "db-crash":
            cluster.crash_database()
            time.sleep(self.duration_s)
            cluster.restart_database()
        elif self.kind == "kill-9":
            cluster.kill_scheduler(self.detail)
            time.sleep(self.duration_s)
            cluster.start_scheduler(self.detail)
            cluster.wait_schedulers()
        elif self.kind == "net-latency":
            cluster.proxy.latency(float(self.detail.rstrip("s")))
            time.sleep(self.duration_s)
            cluster.proxy.heal()
        elif self.kind == "net-reset":
            deadline = time.monotonic() + self.duration_s
            while time.monotonic() < deadline:
                cluster.proxy.reset()
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        elif self.kind == "net-blackhole":
            cluster.proxy.blackhole()
            time.sleep(self.duration_s)
            cluster.proxy.heal()
        else:
            raise ValueError(self.kind)


def draw(rng: random.Random, kind: str) -> Fault:
    if kind == "db-crash":
        return Fault(kind, rng.uniform(2.0, 5.0), "secantus")
    if kind == "kill-9":
        return Fault(kind, rng.uniform(1.0, 4.0), rng.choice(sorted(SCHEDULERS)))
    if kind == "net-latency":
        return Fault(kind, rng.uniform(4.0, 8.0), f"{rng.uniform(0.05, 0.4):.2f}s")
    if kind == "net-reset":
        return Fault(kind, rng.uniform(2.0, 4.0), "every 1 s")
    if kind == "net-blackhole":  # longer than the lease
        return Fault(kind, LEASE_S + rng.uniform(1.0, 4.0), "proxied")
    raise ValueError(kind)


def plan(rng: random.Random, budget_s: float) -> list[tuple[Fault, float]]:
    """Faults with the quiet time after each, within ``budget_s``: every kind once in a
    shuffled order, then random kinds while time is left."""
    kinds = rng.sample(KINDS, len(KINDS))
    planned: list[tuple[Fault, float]] = []
    used = 0.0
    while True:
        first_round = bool(kinds)
        kind = kinds.pop() if kinds else rng.choice(KINDS)
        fault = draw(rng, kind)
        quiet = RECOVERY_S / 2 + rng.uniform(0.0, 2.0)
        if not first_round and used + fault.duration_s + quiet > budget_s:
            return planned
        planned.append((fault, quiet))
        used += fault.duration_s + quiet


def run_plan(cluster: Cluster, planned: list[tuple[Fault, float]],
             log: Callable[[str], None]) -> list[FaultWindow]:  # fmt: skip
    windows = []
    for fault, quiet in planned:
        start = time.time()
        fault.run(cluster, log)
        windows.append(FaultWindow(fault.kind, start - LEASE_S - 1.0, time.time() + RECOVERY_S))
        time.sleep(quiet)
    return windows
