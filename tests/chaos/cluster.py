"""The processes of a chaos run, all on 127.0.0.1, and the faults that strike them.

- a SecantusDB server with its own storage, killed with ``kill -9`` and restarted on the
  same data and port;
- the logging target (``tests.chaos.target``);
- an API process (gunicorn, scheduler disabled) through which jobs are made;
- three scheduler processes (``flask scheduler run``): ``ahead`` with its wall clock 90 s
  fast, ``behind`` 90 s slow (``clock_shim``), and ``proxied``, with a true clock, which
  reaches the database through ``FaultyProxy``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from scheduler_service.embedded_db import embedded_uri, server_command
from tests.chaos import clock_shim
from tests.chaos.tcp_proxy import FaultyProxy
from tests.support.ports import free_port
from tests.support.processes import ProcessGroup, service_env
from tests.support.service_process import ServiceProcess
from tests.support.waiting import wait_until

SKEW_S = 90.0
POLL_MS = 500
LEASE_MS = 5000
SETTINGS = {
    "SCHEDULER_POLL_INTERVAL": POLL_MS,
    "JOB_LEASE_TIMEOUT": LEASE_MS,
    "JOB_TIMEOUT": 4000,
    "DB_TIMEOUT": 2000,
    "MAX_CONCURRENT_JOBS": 8,
    "JOB_RETRY_ATTEMPTS": 2,
    "JOB_RETRY_DELAY": 500,
    "SHUTDOWN_GRACE": 5000,
    # Claims and results wait for the journal, as w:majority does on a replica set. With
    # w:1 a kill -9 of a standalone loses its last acknowledged writes: a tick recorded and
    # released just before the crash was in flight again after it and re-delivered.
    "DB_WRITE_CONCERN": "journaled",
}
# name -> (wall-clock offset in units of the skew, through the proxy)
SCHEDULERS = {"ahead": (1, False), "behind": (-1, False), "proxied": (0, True)}


@dataclass
class Cluster:
    group: ProcessGroup
    work: Path
    skew_s: float = SKEW_S
    db_port: int = field(default_factory=free_port)
    restarts: dict[str, int] = field(default_factory=dict)
    schedulers: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(self) -> None:
        self.storage = self.work / "db"
        self.database = self._start_database()
        _ready(self.database)
        self.proxy = FaultyProxy(self.db_port)
        self.shim = clock_shim.build(self.work)
        self.requests_log = self.work / "target.requests"
        port = free_port()
        command = [sys.executable, "-m", "tests.chaos.target", "--port", str(port),
                   "--out", str(self.requests_log)]  # fmt: skip
        self.group.start("target", "target", command, service_env(self.uri), port=port)
        self.target_url = f"http://127.0.0.1:{port}"
        self.api = self.group.gunicorn(
            "api", service_env(self.uri, **SETTINGS, SCHEDULER_ENABLED="false")
        )
        for name in SCHEDULERS:
            self.start_scheduler(name)
        self.group.wait_ready(60)

    @property
    def uri(self) -> str:
        return embedded_uri(self.db_port)

    def scheduler_env(self, name: str) -> dict[str, str]:
        offset, proxied = SCHEDULERS[name]
        uri = embedded_uri(self.proxy.port) if proxied else self.uri
        env = service_env(uri, **SETTINGS)
        return clock_shim.skewed_env(env, self.shim, offset * self.skew_s)

    def _label(self, name: str) -> str:
        self.restarts[name] = self.restarts.get(name, -1) + 1
        return name if not self.restarts[name] else f"{name}-{self.restarts[name]}"

    def _start_database(self) -> ServiceProcess:
        command = server_command(self.storage, self.db_port)
        env = service_env(self.uri)
        return self.group.start(self._label("secantus"), "secantus", command, env,
                                port=self.db_port)  # fmt: skip

    def start_scheduler(self, name: str) -> ServiceProcess:
        process = self.group.scheduler(self._label(name), self.scheduler_env(name))
        self.schedulers[name] = process
        return process

    def wait_schedulers(self) -> None:
        for process in self.schedulers.values():
            _ready(process)

    # -- faults ------------------------------------------------------------------------

    def crash_database(self) -> None:
        self.database.kill()  # SIGKILL: no clean shutdown of its storage

    def restart_database(self) -> None:
        self.database = self._start_database()
        _ready(self.database)

    def kill_scheduler(self, name: str) -> None:
        self.schedulers[name].kill()

    def ensure_running(self) -> None:
        """Restart whatever a fault left down (the end of a run)."""
        self.proxy.heal()
        if not self.database.alive():
            self.restart_database()
        for name, process in list(self.schedulers.items()):
            if not process.alive():
                self.start_scheduler(name)
        self.wait_schedulers()

    def close(self) -> None:
        self.proxy.close()


def _ready(process: ServiceProcess, timeout_s: float = 60) -> None:
    wait_until(process.is_ready, timeout_s, interval_s=0.05, message=f"{process.name} ready")
