"""Two schedulers on the wire server, one owning most of the every-second jobs: it hands
some over to the other (``scheduler/balance.py``), and every tick still runs at most once
(claims are compare-and-sets between real clients; mongomock cannot show that)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.runtime import compose, get_runtime
from scheduler_service.scheduler.scheduler import Scheduler
from tests.support.http_target import HttpTarget
from tests.support.in_process import create_job
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

JOBS = 12
# The default poll interval: a tick claimed ahead is claimed with the next one (the look-ahead,
# two intervals, covers it), and the job's tick after those is the one handed over.
SETTINGS = {"scheduler_poll_interval_ms": 1000, "max_concurrent_jobs": 8}


@contextmanager
def schedulers(config: Config, owners: list[str]) -> Iterator[list[Scheduler]]:
    clients = [MongoClient(config.mongodb_uri, tz_aware=True) for _ in owners]
    started = [compose(config, SystemClock(), client.get_default_database(), client,
                       "external").new_scheduler(owner=owner)
               for client, owner in zip(clients, owners, strict=True)]  # fmt: skip
    try:
        for scheduler in started:
            scheduler.start()
        yield started
    finally:
        for scheduler in started:
            scheduler.stop()
        for client in clients:
            client.close()


def owned(db: Database, job_ids: list[ObjectId]) -> Counter[str]:
    return Counter(doc.get("claimedBy") for doc in db.jobs.find({"_id": {"$in": job_ids}}))


def test_a_process_owning_most_jobs_hands_some_over_and_no_tick_runs_twice(
    wire_uri: str, wire_db: Database, target: HttpTarget
) -> None:
    config = Config(mongodb_uri=wire_uri, allow_private_targets=True, rate_limit="off",
                    **SETTINGS)  # fmt: skip
    app = create_app(open_runtime(config))  # the API only: its scheduler is not started
    try:
        job_ids = [ObjectId(create_job(app.test_client(), schedule="* * * * * *",
                                       endpoint=target.url(f"/j{n}"), retryAttempts=0))
                   for n in range(JOBS)]  # fmt: skip
    finally:
        get_runtime(app).close()
    # As a start left them: "a" claimed ten of the jobs' last ticks, "b" two.
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    wire_db.jobs.update_many({"_id": {"$in": job_ids}},
                             {"$set": {"nextRunAt": first, "nextTickAt": first}})  # fmt: skip
    wire_db.jobs.update_many({"_id": {"$in": job_ids[:10]}}, {"$set": {"claimedBy": "a"}})
    wire_db.jobs.update_many({"_id": {"$in": job_ids[10:]}}, {"$set": {"claimedBy": "b"}})
    with schedulers(config, ["a", "b"]):
        # A share is 6: "a" is over it by more than the slack, and hands 4 to "b".
        wait_until(lambda: owned(wire_db, job_ids)["b"] >= 5, 30)
        even = datetime.now(UTC)
        for n in range(JOBS):  # every job still fires, after the hand-overs
            wait_until(lambda n=n: any(r.received_at > even + timedelta(seconds=1)
                                       for r in target.requests_for(f"/j{n}")), 15)  # fmt: skip
    assert owned(wire_db, job_ids)["a"] <= 7
    for n, job_id in enumerate(job_ids):
        keys = Counter(r.header("Idempotency-Key") for r in target.requests_for(f"/j{n}"))
        assert max(keys.values()) == 1, f"job {job_id} fired a tick twice: {keys}"
        ticks = Counter(doc["scheduledAt"] for doc in
                        wire_db.job_executions.find({"jobId": job_id}))  # fmt: skip
        assert ticks and max(ticks.values()) == 1, f"job {job_id} ran a tick twice: {ticks}"
