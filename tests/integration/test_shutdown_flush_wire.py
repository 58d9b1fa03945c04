"""Writes a process batches (``PendingCounts``, ``PendingDisables``: written 0.1 s after
the first) are not lost when the process shuts down cleanly right after making them:
``Runtime.close`` closes the database client, after which the timer's write fails
("Cannot use MongoClient after close") and so does the ``atexit`` one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.database import Database

from scheduler_service import open_runtime
from scheduler_service.config import Config
from scheduler_service.records import Entry
from scheduler_service.stores import job_catalog, job_counts

pytestmark = pytest.mark.integration


def test_a_clean_shutdown_writes_the_batched_counts_and_catalog_disables(
    wire_uri: str, wire_db: Database
) -> None:
    runtime = open_runtime(Config(mongodb_uri=wire_uri, scheduler_enabled=False,
                                  rate_limit="off"))  # fmt: skip
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = runtime.job_service.create({"runAt": run_at, "endpoint": "https://a.example.com/x"})
    job_id = created["_id"]
    job = runtime.ticks.jobs_by_id([job_id])[0]
    entry = Entry.scheduled(job.next_run_at, owner="test", now=datetime.now(UTC),
                            lease=timedelta(minutes=1))  # fmt: skip
    assert runtime.ticks.claim_tick(job, entry, None, forbid_overlap=False,
                                    started_at=datetime.now(UTC))  # the one-off ends
    runtime.close()  # a SIGTERM's shutdown, within FLUSH_AFTER_S of both
    time.sleep(max(job_counts.FLUSH_AFTER_S, job_catalog.FLUSH_AFTER_S) * 3)
    counts = wire_db["job_counts"].find_one({"_id": "jobs"}) or {}
    assert (counts.get("total"), counts.get("enabled")) == (1, 0)
    assert wire_db["job_catalog"].find_one({"_id": job_id})["enabled"] is False
