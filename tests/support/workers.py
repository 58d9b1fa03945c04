"""A claimer and an executor on an app's database, config and clock, for single-threaded
unit tests (mongomock): direct writes, nothing started. ``Worker.run`` does what the
dispatcher and its pool do with a due candidate: claim it, then execute what was won."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask

from scheduler_service.records import Entry, Job
from scheduler_service.runtime import get_runtime
from scheduler_service.scheduler.claimer import Claimer, Claims
from scheduler_service.scheduler.executor import Executor
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore


@dataclass
class Worker:
    claimer: Claimer
    executor: Executor

    @property
    def ticks(self) -> TickStore:
        return self.claimer.ticks

    @property
    def running(self) -> RunningAttempts:
        return self.claimer.running

    def run(self, candidate: Candidate) -> Claims:
        claims = self.claimer.claim([candidate])
        for _, claim in claims.won:
            self.executor.execute(claim)
        return claims


def make_worker(app: Flask, owner: str = "me", **options: Any) -> Worker:
    runtime = get_runtime(app)
    ticks, executions = TickStore(runtime.database), ExecutionStore(runtime.database)
    running = RunningAttempts()
    lease = timedelta(milliseconds=runtime.config.job_lease_timeout_ms)
    claimer = Claimer(ticks, executions, runtime.clock, owner, lease,
                      runtime.config.misfire_grace, running)  # fmt: skip
    executor = Executor(ticks, executions, runtime.config, runtime.clock, owner, running,
                        threading.Event(), runtime.dead_letters, runtime.chains,
                        **options)  # fmt: skip
    return Worker(claimer, executor)


def candidate(document: dict[str, Any], entry: dict[str, Any] | None = None,
              *, follow_up: bool = False) -> Candidate:  # fmt: skip
    """The candidate a poll would queue for a stored job (its scheduled tick, or ``entry``)."""
    job = Job.from_document(document)
    if entry is None:
        assert job.next_run_at is not None
        return Candidate(job.next_run_at, 0, ("tick", job.id), job, follow_up=follow_up)
    typed = Entry.from_document(entry)
    return Candidate(typed.due_at, 0, ("entry", typed.id), job, typed)
