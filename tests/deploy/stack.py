"""The deployment as it runs: gunicorn (deploy/gunicorn.conf.py) and nginx (deploy/nginx.conf)
on free loopback ports, each in its own process group, logs in a temporary directory.

nginx runs unprivileged paths only: ``-p <tmp> -c <tmp>/nginx.conf -e <tmp>/error.log``, a
config that wraps deploy/nginx.conf (listen and upstream ports swapped) in the events and
http blocks a full nginx.conf needs, with pid and temp paths under the same directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import requests

from scheduler_service.config import variables
from tests.support.ports import accepts, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
STARTED = re.compile(r"scheduler \S+ started")


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    assert found, "nginx is not installed: `make deploy-test` installs Debian's nginx"
    return found


def service_env(**settings: str | int) -> dict[str, str]:
    """This environment without any service or gunicorn setting, every service setting
    blank (so a ``.env`` file cannot fill it in: python-dotenv never overrides a variable
    that is set, and the service takes blank as its default), then ``settings``."""
    settings_variables = variables()
    env = {k: v for k, v in os.environ.items() if k not in settings_variables}
    env.update({variable: "" for variable in settings_variables})
    env.update({key: str(value) for key, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    """One child in its own session; ``stop()`` ends its whole process group."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], log_dir: Path,
                 cwd: Path = REPO_ROOT) -> None:  # fmt: skip
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
        """``sig`` to the whole group (gunicorn's workers, nginx's), SIGKILL after a while."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()

    def tail(self, lines: int = 60) -> str:
        text = self.log_text().splitlines()[-lines:]
        return f"----- {self.name} (exit {self.popen.poll()}) -----\n" + "\n".join(text)


def wait_for(predicate: object, timeout_s: float, what: str, process: Process) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(f"{process.name} exited while waiting for {what}\n"
                                 + process.tail())  # fmt: skip
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n" + process.tail())


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_gunicorn(log_dir: Path, workers: int, **settings: str | int) -> tuple[Process, int]:
    """gunicorn as `make run` starts it, on a free port; waits until every worker's
    scheduler started (unless SCHEDULER_ENABLED=false) and health answers 200."""
    port = free_port()
    env = service_env(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=workers, **settings)
    command = [
        sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
        "--no-control-socket", "wsgi:app",
    ]  # fmt: skip
    process = Process("gunicorn", command, env, log_dir)
    scheduler = str(settings.get("SCHEDULER_ENABLED", "true")).lower() != "false"
    expected = workers if scheduler else 0
    try:
        wait_for(lambda: len(STARTED.findall(process.log_text())) >= expected, 60,
                 f"{expected} schedulers to start", process)  # fmt: skip
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/api/observability/health"), 30,
                 "gunicorn to answer", process)  # fmt: skip
    except BaseException:
        process.stop()
        raise
    return process, port


def render_nginx_conf(directory: Path, listen_port: int, upstream_port: int) -> Path:
    """deploy/nginx.conf with its ports swapped, inside a complete nginx.conf."""
    site = NGINX_CONF.read_text()
    site, listens = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", site)
    site, upstreams = re.subn(
        r"(?m)^(\s*)server 127\.0\.0\.1:3000;", rf"\1server 127.0.0.1:{upstream_port};", site
    )
    assert (listens, upstreams) == (1, 1), "deploy/nginx.conf: expected one listen 80 and one " \
        "upstream server 127.0.0.1:3000"  # fmt: skip
    (directory / "site.conf").write_text(site)
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    # Run as root (CI): workers would switch to an unprivileged user that cannot write here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = directory / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        f"    include {directory / 'site.conf'};\n"
        "}\n"
    )
    return conf


def start_nginx(directory: Path, upstream_port: int) -> tuple[Process, int]:
    """nginx in the foreground on a free port, proxying to ``upstream_port``."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = render_nginx_conf(directory, port, upstream_port)
    error_log = directory / "error.log"
    base = [nginx_binary(), "-p", str(directory), "-c", str(conf), "-e", str(error_log)]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t failed:\n{check.stderr}"
    process = Process(
        f"nginx-{port}", [*base, "-g", "daemon off;"], os.environ, directory, cwd=directory
    )
    try:
        wait_for(lambda: accepts(port), 15, "nginx to listen", process)
    except BaseException:
        process.stop()
        raise
    return process, port
