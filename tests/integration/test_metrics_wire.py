"""Metrics and rate limits for real: the wire server, a real HTTP target, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config, variables
from scheduler_service.runtime import get_runtime
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


# The ``service`` fixture's (tests/integration/conftest.py): the rate limit on, as deployed.
SERVICE_SETTINGS = {"scheduler_poll_interval_ms": 300, "job_timeout_ms": 1500,
                    "shutdown_grace_ms": 3000, "rate_limit": Config().rate_limit}


def test_executions_and_start_lag_move_when_a_job_fires(
    service: Flask, target: HttpTarget
) -> None:
    api = service.test_client()
    successes = sample("scheduler_executions_total", status="success")
    lags = sample("scheduler_start_lag_seconds_count", kind="tick")
    attempts = sample("scheduler_attempt_duration_seconds_count")

    created = api.post("/api/jobs", json={"schedule": "* * * * * *", "method": "GET",
                                          "endpoint": target.url("/tick")})  # fmt: skip
    assert created.status_code == 201
    target.wait_for_requests("/tick", 2, timeout_s=10)
    wait_until(lambda: sample("scheduler_executions_total", status="success") >= successes + 2,
               10, message="two successes counted")  # fmt: skip

    assert sample("scheduler_start_lag_seconds_count", kind="tick") >= lags + 2
    assert sample("scheduler_attempt_duration_seconds_count") >= attempts + 2
    text = api.get("/metrics").get_data(as_text=True)
    assert scraped(text, "scheduler_executions_total", status="success") >= successes + 2
    # On an idle machine a tick starts well within a second of its time.
    lag_sum = sample("scheduler_start_lag_seconds_sum", kind="tick")
    assert scraped(text, "scheduler_start_lag_seconds_sum", kind="tick") == lag_sum
    assert scraped(text, "scheduler_poll_duration_seconds_count") > 0


def test_a_mongodb_storage_makes_the_limit_global(wire_uri: str) -> None:
    """Two apps (as two gunicorn workers) share one limit through the wire server."""
    config = Config(mongodb_uri=wire_uri, scheduler_enabled=False, rate_limit="3 per minute",
                    rate_limit_storage_uri=wire_uri)  # fmt: skip
    first, second = (create_app(open_runtime(config)) for _ in range(2))
    try:
        a, b = first.test_client(), second.test_client()
        assert [a.get("/api/jobs").status_code for _ in range(2)] == [200, 200]
        assert b.get("/api/jobs").status_code == 200
        over = b.get("/api/jobs")
        assert over.status_code == 429
        assert over.get_json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert a.get("/api/jobs").status_code == 429
        assert a.get("/api/jobs", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 200
    finally:
        for app in (first, second):
            get_runtime(app).close()


def test_an_unreachable_limit_storage_falls_back_to_memory(wire_uri: str) -> None:
    closed = f"mongodb://127.0.0.1:{free_port()}/x?directConnection=true"
    config = Config(mongodb_uri=wire_uri, scheduler_enabled=False, rate_limit="3 per minute",
                    rate_limit_storage_uri=closed)  # fmt: skip
    app = create_app(open_runtime(config))
    try:
        client = app.test_client()
        codes = [client.get("/api/jobs").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # counted in memory meanwhile
    finally:
        get_runtime(app).close()


WORKER_SCRIPT = """
import sys
from scheduler_service import metrics
metrics.record_attempt("success", 250)
metrics.record_attempt("failure", 40)
metrics.HTTP_REQUESTS.labels(method="GET", route="/api/jobs", status="200").inc(5)
metrics.RUNNING_JOBS.inc()  # still running when the process ends: a live gauge
print(__import__("os").getpid())
"""

COLLECT_SCRIPT = """
import sys
from scheduler_service import metrics
if len(sys.argv) > 1:
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(int(sys.argv[1]))
sys.stdout.write(metrics.render().decode())
"""


def run_python(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_multiprocess_mode_adds_up_the_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    pids = [run_python(WORKER_SCRIPT, env).strip() for _ in range(2)]
    assert {p.name for p in tmp_path.glob("gauge_livesum_*.db")} == {
        f"gauge_livesum_{pid}.db" for pid in pids
    }

    text = run_python(COLLECT_SCRIPT, env)
    assert scraped(text, "scheduler_executions_total", status="success") == 2
    assert scraped(text, "scheduler_executions_total", status="failure") == 2
    assert scraped(text, "scheduler_attempt_duration_seconds_count") == 4
    assert scraped(text, "scheduler_attempt_duration_seconds_sum") == pytest.approx(0.58)
    assert scraped(text, "scheduler_http_requests_total", route="/api/jobs") == 10
    assert scraped(text, "scheduler_running_jobs") == 2

    # A dead worker's live gauge leaves the sum; its counters stay counted.
    text = run_python(COLLECT_SCRIPT, env, pids[0])
    assert scraped(text, "scheduler_running_jobs") == 1
    assert scraped(text, "scheduler_executions_total", status="success") == 2


def _service_env(mongodb_uri: str, **settings: str) -> dict[str, str]:
    ours = variables()
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(settings, MONGODB_URI=mongodb_uri, PYTHONUNBUFFERED="1")
    return env


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def test_gunicorn_workers_share_one_view_of_the_metrics(
    wire_uri: str, target: HttpTarget, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    env = _service_env(
        wire_uri, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", GUNICORN_THREADS="4",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), SCHEDULER_POLL_INTERVAL="300",
        SHUTDOWN_GRACE="1000", ALLOW_PRIVATE_TARGETS="true", RATE_LIMIT="off", LOG_FORMAT="json",
    )  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
               "--no-control-socket", "wsgi:app"]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                return requests.get(f"{base}/api/observability/health", timeout=2).ok
            except requests.RequestException:
                return False

        wait_until(healthy, 30, interval_s=0.1, message="gunicorn to answer")
        workers = wait_until(lambda: len(_children(server.pid)) == 2 and _children(server.pid),
                             10, message="two workers")  # fmt: skip
        assert not (metrics_dir / "counter_999999.db").exists(), "the old run's files are wiped"

        for _ in range(30):  # a new connection each: both workers may answer
            answer = requests.get(f"{base}/api/observability/health", timeout=5,
                                  headers={"Connection": "close"})  # fmt: skip
            assert answer.status_code == 200
        created = requests.post(f"{base}/api/jobs", timeout=5, json={
            "schedule": "* * * * * *", "method": "GET", "endpoint": target.url("/w")})
        assert created.status_code == 201
        target.wait_for_requests("/w", 3, timeout_s=15)

        # Every worker writes its own files: both are in multiprocess mode.
        writers = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
        assert set(workers) <= writers

        def metrics_text() -> str:
            answer = requests.get(f"{base}/metrics", timeout=5, headers={"Connection": "close"})
            assert answer.status_code == 200
            assert answer.headers["Content-Type"].startswith("text/plain")
            return answer.text

        text = metrics_text()
        health = {"route": "/api/observability/health", "status": "200"}
        # 30 requests plus the readiness probe(s), wherever each was answered
        assert scraped(text, "scheduler_http_requests_total", **health) >= 31
        before = scraped(text, "scheduler_http_requests_total", **health)
        for _ in range(10):
            requests.get(f"{base}/api/observability/health", timeout=5,
                         headers={"Connection": "close"})  # fmt: skip
        for _ in range(4):  # whichever worker answers, the total is the same
            text = metrics_text()
            assert scraped(text, "scheduler_http_requests_total", **health) == before + 10
        assert scraped(text, "scheduler_executions_total", status="success") >= 3
        assert scraped(text, "scheduler_poll_duration_seconds_count") > 0

        # A worker that dies leaves its live gauge out (child_exit -> mark_process_dead).
        victim = workers[0]
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not (metrics_dir / f"gauge_livesum_{victim}.db").exists(), 15,
                   message="the dead worker's live gauge removed")  # fmt: skip
        assert scraped(metrics_text(), "scheduler_executions_total", status="success") >= 3
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        log.close()
    # LOG_FORMAT=json: every line, gunicorn's own included, is one JSON object
    lines = (tmp_path / "gunicorn.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert any(e["logger"] == "gunicorn.error" for e in entries)
    assert any(e["logger"] == "scheduler_service.access" for e in entries)

