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
    install_stages(write)


def install_stages(write: Any) -> None:
    """Per attempt (``stage`` events): when its worker began to wait for the tick's time
    and woke, when its request began to go out (its first ``send``), a new connection's
    connect, and when its recording began; and what else held the process."""
    import http.client

    from scheduler_service.scheduler import dispatcher, executor

    local = threading.local()
    starts = dispatcher.Dispatcher._starts

    def traced_starts(self: Any, claim: Any) -> Any:
        entered = time.time()
        result = starts(self, claim)
        local.wait = (entered, time.time())
        local.sent = local.send_call = local.connect = None
        return result

    dispatcher.Dispatcher._starts = traced_starts  # type: ignore[method-assign]
    send = http.client.HTTPConnection.send

    def traced_send(self: Any, data: Any) -> Any:
        if getattr(local, "sent", 0) is None:
            local.sent = time.time()
        return send(self, data)

    http.client.HTTPConnection.send = traced_send  # type: ignore[method-assign]
    connect = http.client.HTTPConnection.connect

    def traced_connect(self: Any) -> Any:
        begun = time.time()
        try:
            return connect(self)
        finally:
            local.connect = (begun, time.time())

    http.client.HTTPConnection.connect = traced_connect  # type: ignore[method-assign]
    from scheduler_service.delivery import sender

    sender_send = sender.send

    def traced_sender_send(*args: Any, **kw: Any) -> Any:
        if getattr(local, "send_call", 0) is None:
            local.send_call = time.time()
        return sender_send(*args, **kw)

    sender.send = traced_sender_send
    record = executor.Executor._record

    def traced_record(self: Any, job: Any, entry: Any, *args: Any) -> Any:
        begun = time.time()
        try:
            return record(self, job, entry, *args)
        finally:
            write({"e": "stage", "due": entry.scheduled_at.timestamp(), "job": str(job.id),
                   "wait": getattr(local, "wait", None), "sent": getattr(local, "sent", None),
                   "call": getattr(local, "send_call", None),
                   "connect": getattr(local, "connect", None),
                   "record": (begun, time.time())})
            local.wait = local.sent = None

    executor.Executor._record = traced_record  # type: ignore[method-assign]
    install_busy(write)


def install_busy(write: Any) -> None:
    """``gc`` collections, ``poll``s and group commits' ``flush``es, each with its span."""
    import gc

    from scheduler_service.scheduler import group_commit, poller

    def timed(kind: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            begun = time.time()
            try:
                return fn(*args, **kw)
            finally:
                write({"e": kind, "t": begun, "end": time.time()})
        return wrapper

    poller.Poller.poll_once = timed("poll", poller.Poller.poll_once)  # type: ignore[method-assign]
    init = group_commit.GroupCommit.__init__

    def traced_init(self: Any, flush: Any, name: str, *args: Any, **kw: Any) -> None:
        init(self, timed("flush:" + name, flush), name, *args, **kw)

    group_commit.GroupCommit.__init__ = traced_init  # type: ignore[method-assign]
    began: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[:] = [time.time()]
        elif began:
            write({"e": "gc", "t": began[0], "end": time.time(), "gen": info["generation"]})

    gc.callbacks.append(on_gc)
