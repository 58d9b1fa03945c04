"""A trace of the scheduler's claims in a bench service process (``BENCH_TRACE=dir``).

Diagnosis only: wraps ``Claimer.claim``, ``PreClaimedTicks.check`` and ``Executor.execute``
and writes one JSON line per event to ``dir/<pid>.jsonl``:

- ``claim``: when a batch was taken out and sent, when its reply came, and per candidate its
  due time, kind (tick, follow-up, entry), whether won, and the ticks claimed with it;
- ``pre``: pre-claimed ticks judged (taken out when, relative to their time);
- ``run``: when a worker started a tick's attempt, relative to its time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


def install(directory: str) -> None:
    from scheduler_service.scheduler import executor, pre_claimed_ticks
    from scheduler_service.scheduler.claimer import Claimer

    path = Path(directory) / f"{os.getpid()}.jsonl"
    out = open(path, "a", buffering=1)  # noqa: SIM115 - for the process's life
    lock = threading.Lock()

    def write(event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str)
        with lock:
            out.write(line + "\n")

    claim = Claimer.claim

    def traced_claim(self: Claimer, candidates: list[Any]) -> Any:
        sent = time.time()
        claims = claim(self, candidates)
        back = time.time()
        won = {c.job.id: cl for c, cl in claims.won}
        write({"e": "claim", "sent": sent, "back": back, "owner": self.owner, "c": [
            {"job": str(c.job.id), "due": c.due.timestamp(),
             "kind": "entry" if c.entry is not None else ("follow" if c.follow_up else "tick"),
             "by": c.job.claimed_by, "won": c.job.id in won,
             "pre": len(won[c.job.id].pre_claimed) if c.job.id in won else 0}
            for c in candidates]})
        return claims

    Claimer.claim = traced_claim  # type: ignore[method-assign]

    pre = pre_claimed_ticks.PreClaimedTicks.check

    def traced_pre(self: Any, candidates: list[Any]) -> None:
        now = time.time()
        write({"e": "pre", "t": now, "due": [c.due.timestamp() for c in candidates]})
        pre(self, candidates)

    pre_claimed_ticks.PreClaimedTicks.check = traced_pre  # type: ignore[method-assign]

    from scheduler_service.scheduler import pre_claims

    judge = pre_claims.judge

    def traced_judge(claimed: Any, entry: Any, fresh: Any, owner: str, **kw: Any) -> Any:
        verdict = judge(claimed, entry, fresh, owner, **kw)
        write({"e": "verdict", "t": time.time(), "due": entry.scheduled_at.timestamp(),
               "v": verdict.value, "job": str(claimed.id)})
        return verdict

    pre_claims.judge = traced_judge

    execute = executor.Executor.execute
    perform = executor.perform
    local = threading.local()

    def traced_perform(*args: Any) -> Any:
        begun = time.time()
        try:
            return perform(*args)
        finally:
            local.http = (begun, time.time())

    executor.perform = traced_perform

    def traced_execute(self: Any, claim: Any, ready: Any = None, **kw: Any) -> None:
        started = time.time()
        execute(self, claim, ready, **kw)
        write({"e": "run", "t": started, "end": time.time(),
               "due": claim.entry.scheduled_at.timestamp(),
               "job": str(claim.job.id), "ready": ready is not None,
               "att": claim.entry.attempt, "http": getattr(local, "http", None)})

    executor.Executor.execute = traced_execute  # type: ignore[method-assign]
