"""The database process paused (SIGSTOP) for 10 s: a hung, not refusing, database.

The API answers 503 within the contract's 5 s, health says ``unhealthy``, the service does
not crash, and after SIGCONT the schedule resumes with every job the API accepted intact.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from scheduler_service.clock import iso_utc
from tests.support.http_target import HttpTarget
from tests.support.processes import ProcessGroup, api, create_job, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

PAUSE_S = 10.0
CONTRACT_S = 5.0
NEVER = "0 0 0 1 1 *"


def all_threads_stopped(pid: int) -> bool:
    """Every thread of ``pid`` is in state T (stopped), as /proc shows it."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
    return bool(states) and all(state in ("T", "t") for state in states)


def timed(base_url: str, method: str, path: str, **kwargs: Any) -> tuple[float, Any]:
    started = time.monotonic()
    answer = api(base_url, method, path, timeout_s=CONTRACT_S + 5, **kwargs)
    return time.monotonic() - started, answer


def test_paused_database_answers_503_quickly_and_the_schedule_resumes(
    group: ProcessGroup, target: HttpTarget, tmp_path: Path
) -> None:
    database, uri = group.secantus("secantus", tmp_path / "db")
    group.wait_ready()
    service = group.gunicorn(
        "service", service_env(uri, SCHEDULER_POLL_INTERVAL=300), workers=1
    )
    group.wait_ready()
    url = service.base_url

    ticking = create_job(url, schedule="* * * * * *", endpoint=target.url("/tick"))
    accepted = [ticking] + [
        create_job(url, schedule=NEVER, endpoint=target.url(f"/other/{n}")) for n in range(5)
    ]
    target.wait_for_requests("/tick", 2, timeout_s=10)

    database.signal(signal.SIGSTOP)
    # kill() returns once the signal is queued; a busy server thread can still answer a
    # request or two until the kernel has stopped every thread. Wait for that.
    wait_until(lambda: all_threads_stopped(database.pid), message="database not stopped")
    paused_at = time.monotonic()
    try:
        elapsed, health = timed(url, "GET", "/api/observability/health")
        body = health.json()
        assert (health.status_code, body["success"], body["status"]) == (503, False, "unhealthy")
        assert body["error"]["code"] == "UNAVAILABLE"
        assert elapsed <= CONTRACT_S, f"health took {elapsed:.1f} s"
        for method, path, payload in [
            ("GET", "/api/jobs", None),
            ("GET", f"/api/jobs/{ticking}", None),
            ("GET", "/api/observability/stats", None),
            ("POST", "/api/jobs", {"schedule": NEVER, "endpoint": target.url("/late")}),
        ]:
            elapsed, answer = timed(url, method, path, json=payload)
            assert answer.status_code == 503, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "UNAVAILABLE"
            assert elapsed <= CONTRACT_S, f"{method} {path} took {elapsed:.1f} s"
        # The rest of the pause: the fault's duration, not a synchronisation.
        time.sleep(max(0.0, PAUSE_S - (time.monotonic() - paused_at)))
        assert service.alive(), "the service died while the database was paused"
    finally:
        database.signal(signal.SIGCONT)
    resumed_at = time.monotonic()

    wait_until(
        lambda: api(url, "GET", "/api/observability/health").status_code == 200, 15,
        interval_s=0.2, message="health to be 200 again",
    )  # fmt: skip
    before = len(target.requests_for("/tick"))
    later = target.wait_for_requests("/tick", before + 3, timeout_s=15)
    assert any(r.monotonic > resumed_at for r in later)
    keys = Counter(r.header("Idempotency-Key") for r in later)
    assert max(keys.values()) == 1, "a tick was sent twice across the pause"
    for job_id in accepted:
        answer = api(url, "GET", f"/api/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
    listed = {job["jobId"] for job in api(url, "GET", "/api/jobs?limit=100").json()["data"]}
    assert set(accepted) <= listed
    # Results of attempts that ended during the pause were recorded once it was over: every
    # request the target answered has its record (but the latest, perhaps still being written).
    with MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000) as client:
        records = client.get_default_database()["job_executions"]

        def all_recorded() -> bool:
            cutoff = datetime.now(UTC) - timedelta(seconds=2)
            sent = {
                (r.header("X-Scheduler-Scheduled-At"), int(r.header("X-Scheduler-Attempt")))
                for r in target.requests_for("/tick")
                if r.received_at < cutoff
            }
            rows = records.find({"jobId": ObjectId(ticking)}, projection=["scheduledAt", "attempt"])
            return sent <= {(iso_utc(row["scheduledAt"]), row["attempt"]) for row in rows}

        wait_until(all_recorded, 10, interval_s=0.2, message="every attempt recorded")
    assert service.alive() and database.alive()
    log = service.log_text()
    assert "unexpected error" not in log and "Traceback" not in log
