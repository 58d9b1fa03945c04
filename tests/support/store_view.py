"""Read-only views of the scheduler's documents, for tests that watch service processes.

The processes under test write; the test only reads ``jobs`` and ``job_executions``
straight from the database, so what it checks does not depend on a process it killed.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.database import Database

from tests.support.waiting import wait_until


def job_document(db: Database, job_id: str) -> dict[str, Any] | None:
    return db["jobs"].find_one({"_id": ObjectId(job_id)})


def inflight(db: Database, job_id: str) -> list[dict[str, Any]]:
    job = job_document(db, job_id)
    return list((job or {}).get("inflight") or [])


def entry_in_state(db: Database, job_id: str, state: str) -> dict[str, Any] | None:
    """The job's first in-flight entry in ``state`` ("running" or "waiting"), if any."""
    return next((e for e in inflight(db, job_id) if e.get("state") == state), None)


def executions(db: Database, job_id: str) -> list[dict[str, Any]]:
    """Every attempt of the job, in order of tick and attempt."""
    cursor = db["job_executions"].find({"jobId": ObjectId(job_id)})
    return sorted(cursor, key=lambda row: (row["scheduledAt"], row["attempt"]))


def settled(db: Database, job_id: str, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
    """Wait until the job has ``count`` attempts recorded, none still ``running``, and
    nothing in flight; return the attempts."""

    def done() -> list[dict[str, Any]] | None:
        rows = executions(db, job_id)
        finished = len(rows) >= count and all(r["status"] != "running" for r in rows)
        return rows if finished and not inflight(db, job_id) else None

    return wait_until(done, timeout_s, interval_s=0.05,
                      message=f"{count} settled attempts of job {job_id}")  # fmt: skip
