"""kill -9 of the embedded database: the process that started it (the gunicorn master, as
under ``make run``, or ``flask scheduler run``) starts it again on the same data folder and
port; the service recovers by itself, with the jobs it had, and its own stop does not
restart it."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import requests

from tests.support.http_target import HttpTarget
from tests.support.ports import free_port
from tests.support.processes import ProcessGroup, create_job, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault


def embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    """``make run``'s: MONGODB_URI unset, so the master starts the embedded database."""
    env = service_env("", DATA_DIR=str(data_dir), EMBEDDED_DB_PORT=str(port))
    del env["MONGODB_URI"]
    return env


def health(base_url: str) -> int:
    try:
        return requests.get(f"{base_url}/api/observability/health", timeout=5).status_code
    except requests.RequestException:
        return 0


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.parametrize("starter", ["gunicorn", "cli"])
def test_a_killed_embedded_database_is_restarted_and_jobs_fire_again(
    starter: str, tmp_path: Path, group: ProcessGroup, target: HttpTarget
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    env = embedded_env(data_dir, port)
    if starter == "gunicorn":
        owner = service = group.gunicorn("make-run", env, workers=2)
    else:  # the CLI starts the database; an API process (no scheduler) reuses it
        owner = group.scheduler("cli", env)
        group.wait_ready()
        service = group.gunicorn("api", {**env, "SCHEDULER_ENABLED": "false"})
    group.wait_ready()
    pid_file = data_dir / "embedded.pid"
    first = int(pid_file.read_text())
    job_id = create_job(service.base_url, schedule="* * * * * *", endpoint=target.url("/tick"))
    target.wait_for_requests("/tick", 1, timeout_s=15)

    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not alive(first), 10, message="the database gone")
    wait_until(lambda: int(pid_file.read_text()) != first and health(service.base_url) == 200,
               60, interval_s=0.2, message="a new database, the service healthy")  # fmt: skip
    second = int(pid_file.read_text())
    assert alive(second)
    assert owner.log_count("restarted the embedded database") == 1
    assert owner.log_count(re.escape(f"embedded database (pid {first}) exited")) == 1

    fired = len(target.wait_for_requests("/tick", 1))
    target.wait_for_requests("/tick", fired + 2, timeout_s=30)  # the same job, from the data kept
    answer = requests.get(f"{service.base_url}/api/jobs/{job_id}", timeout=5)
    assert answer.status_code == 200

    owner.signal(signal.SIGTERM)  # a stop is not a crash: nothing restarts it
    assert owner.wait_exit(30) == 0
    assert not alive(second)
    assert int(pid_file.read_text()) == second
    assert owner.log_count("restarted the embedded database") == 1
