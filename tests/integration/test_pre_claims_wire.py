"""A tick and the next claimed in one write (``scheduler/pre_claims.py``), on the wire server
with a real target: two processes share every-second jobs and run each tick once, claimed
in pairs; a job disabled, changed or deleted while its next tick is pre-claimed does not
fire that tick with its old definition."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job, running_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Poll 1 s (look-ahead 2 s), lease 16 s: ticks 1 s apart are claimed in pairs
# (``Scheduler``: within min(look-ahead, lease / 8)).
SETTINGS: dict[str, Any] = {"scheduler_poll_interval_ms": 1000, "job_lease_timeout_ms": 16_000}
SECOND = timedelta(seconds=1)


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pre_claimed(db: Database, job_id: str, margin: timedelta) -> dict[str, Any] | None:
    """The job's entry claimed with the tick before and due to start after ``margin``."""
    document = db.jobs.find_one({"_id": ObjectId(job_id)}) or {}
    now = datetime.now(UTC)
    entries = document.get("inflight") or []
    later = [e for e in entries if e["state"] == "running" and utc(e["startedAt"]) > now + margin]
    return later[0] if len(entries) == 2 and later else None


def tick_of(request: Any) -> datetime:
    return datetime.fromisoformat(request.header("X-Scheduler-Scheduled-At") or "")


def ticks_sent(target: HttpTarget, path: str) -> Counter[tuple[str | None, datetime]]:
    return Counter((r.header("X-Scheduler-Job-Id"), tick_of(r))
                   for r in target.requests_for(path))  # fmt: skip


@pytest.fixture
def two_services(wire_uri: str) -> Iterator[tuple[Flask, Flask]]:
    with ExitStack() as stack:
        yield (stack.enter_context(running_service(wire_uri, **SETTINGS)),
               stack.enter_context(running_service(wire_uri, **SETTINGS)))  # fmt: skip


def test_two_processes_claim_ticks_in_pairs_and_run_each_tick_once(
    two_services: tuple[Flask, Flask], wire_db: Database, target: HttpTarget
) -> None:
    first, _ = two_services
    api = first.test_client()
    jobs = [created_job(api, schedule="* * * * * *", endpoint=target.url("/pairs"),
                        name=f"pair-{n}")["jobId"] for n in range(4)]  # fmt: skip
    for job_id in jobs:
        wait_until(lambda job_id=job_id: pre_claimed(wire_db, job_id, timedelta(0)), 10,
                   message="a tick claimed with the one before")  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) + 2 * SECOND
    wanted = {(job_id, start + n * SECOND) for job_id in jobs for n in range(3)}
    wait_until(lambda: wanted <= set(ticks_sent(target, "/pairs")), 15, interval_s=0.1,
               message="every tick of the window sent")  # fmt: skip
    sent = ticks_sent(target, "/pairs")
    assert max(sent.values()) == 1, "a tick was sent twice"
    owners = {e["owner"] for d in wire_db.jobs.find({}) for e in d.get("inflight") or []}
    assert None not in owners
    records = list(wire_db.job_executions.find({"jobId": {"$in": [ObjectId(j) for j in jobs]}}))
    assert {r["attempt"] for r in records} == {1}


def test_a_pre_claimed_tick_of_a_job_disabled_or_deleted_meanwhile_is_not_sent(
    wire_uri: str, wire_db: Database, target: HttpTarget
) -> None:
    with running_service(wire_uri, **SETTINGS) as app:
        api = app.test_client()
        cut: dict[str, datetime] = {}
        jobs: dict[str, str] = {}
        for change, path in (("disable", "/off"), ("delete", "/gone"), ("change", "/old")):
            for _ in range(5):  # acted on at least 250 ms before the tick, or another try
                job_id = jobs.get(change) or created_job(
                    api, schedule="* * * * * *", endpoint=target.url(path))["jobId"]
                entry = wait_until(lambda j=job_id: pre_claimed(wire_db, j, 0.4 * SECOND), 10)
                tick = utc(entry["scheduledAt"])
                if change == "delete":
                    assert api.delete(f"/api/jobs/{job_id}").status_code == 200
                else:
                    body = {"enabled": False} if change == "disable" else {
                        "endpoint": target.url("/new")}  # fmt: skip
                    assert api.put(f"/api/jobs/{job_id}", json=body).status_code == 200
                in_time = datetime.now(UTC) < tick - timedelta(milliseconds=250)
                if in_time:
                    cut[job_id], jobs[change] = tick, job_id
                    break
                if change == "disable":  # too late: again, from its next claim
                    assert api.put(f"/api/jobs/{job_id}", json={"enabled": True}).status_code == 200
                    jobs[change] = job_id
            assert change in jobs and jobs[change] in cut, f"{change}: never acted in time"
        disabled, deleted, changed = jobs["disable"], jobs["delete"], jobs["change"]
        # The changed job's pre-claimed tick goes out, with its new endpoint.
        wait_until(lambda: (changed, cut[changed]) in ticks_sent(target, "/new"), 10,
                   message="the changed job's tick sent to its new endpoint")  # fmt: skip
        # The disabled job's entries are released (the pre-claimed one at its time, the one
        # before when its held release finds no next claim).
        wait_until(lambda: wire_db.jobs.find_one({"_id": ObjectId(disabled)})["inflight"] == [],
                   10, message="the disabled job's entries released")  # fmt: skip
    for path, job_id in (("/off", disabled), ("/gone", deleted), ("/old", changed)):
        late = [r for r in target.requests_for(path)
                if r.header("X-Scheduler-Job-Id") == job_id and tick_of(r) >= cut[job_id]]
        assert late == [], f"{path}: a tick after the change was sent"
    assert wire_db.jobs.find_one({"_id": ObjectId(disabled)})["enabled"] is False
    assert wire_db.jobs.find_one({"_id": ObjectId(deleted)}) is None
