"""Chained jobs: when a tick ends for good, its job's ``onSuccess`` (success, a replay's
included) or ``onFailure`` (dead-lettered) jobs each get one run, as ``POST /run`` starts
one, carrying the parent's outcome (``records/trigger.py``).

At least once, never lost, once per parent tick:

- which jobs to trigger is decided with the settlement and written in the same write, the
  attempt's execution record (``triggers``), which a take-over reads (``settlement.py``);
- the settlement then queues the runs (``stores/chains.py``: one conditional write per
  child) before it releases the tick; a process dying in between leaves
  the tick in flight, and whoever takes it over triggers again from the record;
- a trigger applied again is recognised by its key (the child, the list and the parent's
  tick), the child's run's ``Idempotency-Key`` too: the child runs once.

A job without ``onSuccess``/``onFailure`` costs nothing here: no field, no write.

Validation refuses cycles (``services/chain_rules.py``), but two updates at the same
instant could still close one; each run then carries its depth in the chain, and a run
``MAX_DEPTH`` links down triggers nothing more (logged), so such a cycle stops by itself.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bson import ObjectId

from scheduler_service import metrics
from scheduler_service.delivery.payload import chain_key, idempotency_key
from scheduler_service.records import Entry, ExecutionRecord, Job, Status
from scheduler_service.records.trigger import Trigger
from scheduler_service.stores.chains import ChainStore

log = logging.getLogger(__name__)

MAX_DEPTH = 100  # links in one chain: past it, a run triggers nothing (a cycle, see above)


def children(job: Job, entry: Entry, *, succeeded: bool,
             dead_lettered: bool) -> tuple[ObjectId, ...]:  # fmt: skip
    """The jobs the end of ``entry``'s tick triggers: ``onSuccess`` on a success for good,
    ``onFailure`` when the tick is dead-lettered (a replay that fails again triggers nothing
    more: its tick was dead-lettered, and triggered, once)."""
    if succeeded:
        return job.on_success
    if dead_lettered and entry.replay_of is None:
        return job.on_failure
    return ()


def entry_key(job_id: ObjectId, entry: Entry) -> str:
    """The ``Idempotency-Key`` of the tick ``entry`` belongs to."""
    if entry.trigger is not None:
        return entry.trigger.key
    return idempotency_key(str(job_id), entry.scheduled_at)


def triggered_runs(record: ExecutionRecord, now: datetime,
                   depth: int = 1) -> list[tuple[ObjectId, Entry]]:  # fmt: skip
    """The run each of ``record.triggers`` gets: a waiting entry due ``now`` carrying the
    parent's outcome, keyed by child, list and parent tick, ``depth`` links down."""
    succeeded = record.status is Status.SUCCESS
    list_name = "onSuccess" if succeeded else "onFailure"
    runs = []
    for child_id in record.triggers:
        key = chain_key(str(child_id), list_name, str(record.job_id), record.scheduled_at)
        trigger = Trigger(record.job_id, record.scheduled_at, record.status,
                          record.response_code, record.response_body, key, depth)  # fmt: skip
        runs.append((child_id, Entry.triggered(trigger, now)))
    return runs


class Chaining:
    def __init__(self, store: ChainStore) -> None:
        self.store = store

    def trigger(self, record: ExecutionRecord, entry: Entry, now: datetime) -> int:
        """Queue the runs ``record`` (the end of ``entry``'s tick) triggers (none: no write);
        returns how many were queued now. Repeatable: a run already queued for its key is
        not queued again."""
        if not record.triggers:
            return 0
        depth = 1 if entry.trigger is None else entry.trigger.depth + 1
        if depth > MAX_DEPTH:
            log.error("job %s: tick %s is %d links down a chain: its onSuccess/onFailure jobs "
                      "are not run (a cycle made by concurrent updates?)", record.job_id,
                      record.scheduled_at.isoformat(), depth - 1)  # fmt: skip
            return 0
        queued = self.store.trigger(triggered_runs(record, now, depth))
        if queued:
            metrics.record_chained(queued)
            log.info("job %s: tick %s triggered %d chained run(s) of %s", record.job_id,
                     record.scheduled_at.isoformat(), queued,
                     ", ".join(str(child) for child in record.triggers))  # fmt: skip
        return queued
