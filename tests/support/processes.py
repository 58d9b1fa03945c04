"""Real service processes for fault tests: start, wait for readiness, signal, kill, clean up.

    with ProcessGroup(tmp_path) as group:
        api = group.gunicorn("api", service_env(uri, SCHEDULER_ENABLED="false"))
        worker = group.scheduler("a", service_env(uri))
        group.wait_ready()
        ...
        worker.kill()  # SIGKILL

Every process is started in its own session (its own process group), with stdout and
stderr captured to files; ``ProcessGroup.close()`` kills each group that is still alive
(SIGCONT first, for a process a test stopped), waits for it, and prints the tail of every
log, which pytest shows for a failing test. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from scheduler_service.config import variables
from scheduler_service.embedded_db import embedded_uri, server_command
from tests.support.ports import free_port
from tests.support.service_process import ServiceProcess
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]

# Settings the tests pass explicitly: the caller's environment must not leak into them
# (every variable the service and its gunicorn settings read, plus flask's).
_SERVICE_VARIABLES = variables() | {"FLASK_APP", "FLASK_DEBUG"}

# Short settings so a fault suite runs in minutes; tests override what they need.
FAST_SETTINGS = {
    "SCHEDULER_POLL_INTERVAL": "300",
    "JOB_LEASE_TIMEOUT": "3000",
    "JOB_TIMEOUT": "10000",
    "SHUTDOWN_GRACE": "8000",
    "MAX_CONCURRENT_JOBS": "8",
    "JOB_RETRY_ATTEMPTS": "0",
    "JOB_RETRY_DELAY": "1000",
    "LOG_LEVEL": "INFO",
    "ALLOW_PRIVATE_TARGETS": "true",  # the targets listen on 127.0.0.1
}

def service_env(mongodb_uri: str, **settings: str | int) -> dict[str, str]:
    """The environment of a service process: FAST_SETTINGS, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    env.update(FAST_SETTINGS)
    env.update({key: str(value) for key, value in settings.items()})
    env["MONGODB_URI"] = mongodb_uri
    env["PYTHONUNBUFFERED"] = "1"
    return env


def owner_pid(owner: str) -> int:
    """The pid in a scheduler owner id ``host:pid:suffix``."""
    return int(owner.split(":")[-2])


def _logs_info(env: Mapping[str, str]) -> bool:
    return env.get("LOG_LEVEL", "INFO").upper() in ("INFO", "DEBUG")


class ProcessGroup:
    """The processes one test starts; ``close()`` (or leaving the ``with``) ends them all."""

    def __init__(self, log_dir: Path, *, print_logs: bool = True) -> None:
        self.log_dir = log_dir
        self.print_logs = print_logs
        self.processes: list[ServiceProcess] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            for process in reversed(self.processes):
                try:
                    process.close()
                except Exception as exc:  # keep ending the others
                    print(f"could not end {process.name} (pid {process.pid}): {exc!r}")
        finally:
            for process in self.processes if self.print_logs else ():
                process.print_log_tail()

    def start(
        self, name: str, kind: str, command: list[str], env: Mapping[str, str], **extra: Any
    ) -> ServiceProcess:
        """Any command; ``kind`` other than "scheduler" and "gunicorn" is ready once it
        accepts connections on ``port``."""
        stdout_path = self.log_dir / f"{name}.out.log"
        stderr_path = self.log_dir / f"{name}.err.log"
        out, err = stdout_path.open("wb"), stderr_path.open("wb")
        try:
            popen = subprocess.Popen(
                command, cwd=REPO_ROOT, env=dict(env), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            out.close()
            err.close()
            raise
        process = ServiceProcess(name, kind, popen, stdout_path, stderr_path, **extra)
        process._files += [out, err]
        self.processes.append(process)
        return process

    def scheduler(self, name: str, env: Mapping[str, str]) -> ServiceProcess:
        """``python -m flask --app wsgi scheduler run``: the scheduler alone, no HTTP API."""
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"]
        logged = _logs_info(env)
        return self.start(name, "scheduler", command, env, scheduler_logged=logged)

    def gunicorn(
        self, name: str, env: Mapping[str, str], workers: int = 1, *, plain: bool = False
    ) -> ServiceProcess:
        """gunicorn with ``deploy/gunicorn.conf.py`` on a free port of 127.0.0.1; ``plain``:
        ``gunicorn wsgi:app`` with gunicorn's defaults (it reads the project root's
        ``gunicorn.conf.py`` by itself: only the lifecycle hooks)."""
        port = free_port()
        env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
        options = ["--bind", env["BIND"], "--workers", str(workers)] if plain else [
            "-c", "deploy/gunicorn.conf.py"]  # fmt: skip
        command = [
            sys.executable, "-m", "gunicorn", *options,
            # several instances on one machine: gunicorn's default control socket is shared
            "--no-control-socket", "wsgi:app",
        ]  # fmt: skip
        enabled = env.get("SCHEDULER_ENABLED", "true").lower() not in ("0", "false", "no", "off")
        logged = enabled and _logs_info(env)
        return self.start(
            name, "gunicorn", command, env, port=port, workers=workers, scheduler_enabled=enabled,
            scheduler_logged=logged,
        )

    def secantus(self, name: str, storage: Path,
                 test_commands: bool = False) -> tuple[ServiceProcess, str]:  # fmt: skip
        """A dedicated SecantusDB server; returns it and a MONGODB_URI for it.
        ``test_commands``: it takes ``configureFailPoint``."""
        port = free_port()
        command = server_command(storage, port) + (["--test-commands"] if test_commands else [])
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
        process = self.start(name, "secantus", command, env, port=port)
        uri = embedded_uri(port)
        return process, uri

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Wait until every process started so far is ready (fails fast if one exits)."""
        for process in self.processes:
            wait_until(process.is_ready, timeout_s, interval_s=0.05,
                       message=f"{process.name} to be ready")  # fmt: skip

    def holder_of(self, owner: str) -> ServiceProcess:
        """The process (or gunicorn instance) whose scheduler has the owner id ``owner``."""
        pid = owner_pid(owner)
        for process in self.processes:
            if process.kind in ("scheduler", "gunicorn") and process.owns(pid):
                return process
        raise AssertionError(f"no process of this test owns {owner!r}")


def api(base_url: str, method: str, path: str, timeout_s: float = 10, **kwargs: Any) -> Any:
    """One API call; returns the ``requests`` response."""
    return requests.request(method, f"{base_url}{path}", timeout=timeout_s, **kwargs)


def create_job(base_url: str, **fields: Any) -> str:
    answer = api(base_url, "POST", "/api/jobs", json=fields)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["jobId"])


def run_now(base_url: str, job_id: str) -> None:
    """``POST /api/jobs/:jobId/run``, which must answer 202."""
    answer = api(base_url, "POST", f"/api/jobs/{job_id}/run")
    assert answer.status_code == 202, answer.text


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
