"""The overview's scheduler processes: found among the jobs recently run and the jobs with
ticks in flight (read by id and index), not by reading every job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.services.overview import build_overview
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def job(db: Database, owner: str, last_run: datetime,
        inflight: list[dict] | None = None) -> ObjectId:  # fmt: skip
    return db["jobs"].insert_one({"enabled": True, "claimedBy": owner, "lastRunAt": last_run,
                                  "inflight": inflight or []}).inserted_id  # fmt: skip


def attempt(db: Database, job_id: ObjectId, started: datetime) -> None:
    db["job_executions"].insert_one({"jobId": job_id, "status": "success", "attempt": 1,
                                     "startedAt": started, "scheduledAt": started})  # fmt: skip


def test_processes_are_the_claimers_of_recent_and_running_jobs(mongo_db: Database) -> None:
    recent = job(mongo_db, "proc-a", NOW - timedelta(minutes=1))
    attempt(mongo_db, recent, NOW - timedelta(minutes=1))
    stale = job(mongo_db, "proc-old", NOW - timedelta(minutes=30))
    attempt(mongo_db, stale, NOW - timedelta(minutes=30))  # in the hour, not alive
    running = {"id": ObjectId(), "state": "running", "dueAt": NOW, "attempt": 1, "owner": "b"}
    job(mongo_db, "proc-b", NOW - timedelta(seconds=10), [running])  # no record yet
    job(mongo_db, "proc-idle", NOW - timedelta(minutes=2))  # neither: not looked for

    overview = build_overview(JobStore(mongo_db), ExecutionStore(mongo_db), NOW)

    assert overview.processes == ["proc-a", "proc-b"]
