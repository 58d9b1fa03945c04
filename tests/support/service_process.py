"""One real process a test started (``ProcessGroup`` in ``processes.py`` starts them): its
logs, its readiness, its signals and its teardown; and what /proc tells of a process."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from tests.support.ports import accepts
from tests.support.waiting import wait_until

STARTED_LINE = re.compile(r"scheduler (\S+) started")
CLI_READY_LINE = "scheduler running; press Ctrl+C to stop"
LOG_TAIL_LINES = 150


def child_pids(pid: int) -> list[int]:
    """Live children of ``pid`` (gunicorn's workers), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class ServiceProcess:
    name: str
    kind: str  # "scheduler" (flask scheduler run), "gunicorn", "secantus", "target", ...
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    port: int | None = None
    workers: int = 0  # gunicorn: expected workers; 0 elsewhere
    scheduler_enabled: bool = True
    scheduler_logged: bool = True  # its "scheduler ... started" line is logged (LOG_LEVEL)
    _files: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base_url(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def worker_pids(self) -> list[int]:
        """The pids whose scheduler may hold claims: gunicorn's workers, or the process."""
        return child_pids(self.pid) if self.kind == "gunicorn" else [self.pid]

    def owns(self, pid: int) -> bool:
        return pid == self.pid or pid in self.worker_pids()

    def log_text(self) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def log_count(self, pattern: str | re.Pattern[str]) -> int:
        return len(re.findall(pattern, self.log_text()))

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this process only (not its children)."""
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL this process only (a gunicorn master's workers notice and exit)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def kill_scheduler(self, pid: int) -> None:
        """SIGKILL the process running the scheduler with ``pid``: the process itself, or
        one gunicorn worker (whose master then boots a fresh one)."""
        assert self.owns(pid), f"{pid} is not {self.name} or one of its workers"
        if pid == self.pid:
            self.kill()
            return
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in self.worker_pids(), 10, message=f"worker {pid} to die")

    def wait_exit(self, timeout_s: float) -> int:
        return self.popen.wait(timeout_s)

    # readiness

    def is_ready(self) -> bool:
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited with {self.popen.returncode} during start-up:\n"
                + self.log_text()[-4000:]
            )
        if self.kind == "scheduler":
            log = self.log_text()
            return CLI_READY_LINE in log and (
                not self.scheduler_logged or bool(STARTED_LINE.search(log))
            )
        if self.kind != "gunicorn":
            return accepts(self.port)
        # gunicorn: every worker's scheduler started (if enabled and logged at this level),
        # and the API answers, with a running scheduler if enabled
        if self.scheduler_logged and self.log_count(STARTED_LINE) < self.workers:
            return False
        try:
            answer = requests.get(f"{self.base_url}/api/observability/health", timeout=2)
        except requests.RequestException:
            return False
        running = answer.json().get("scheduler", {}).get("isRunning")
        return answer.status_code == 200 and running == self.scheduler_enabled

    # teardown

    def close(self) -> None:
        """Kill the whole process group if anything of it lives, wait, close the logs."""
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)  # our own session: pgid == pid
        self.popen.wait(10)  # SIGKILL cannot be ignored
        for handle in self._files:
            handle.close()
        self._files.clear()

    def print_log_tail(self) -> None:
        lines = self.log_text().splitlines()
        print(f"===== {self.name} ({self.kind}, pid {self.pid}, exit {self.popen.returncode}) "
              f"last {min(len(lines), LOG_TAIL_LINES)} of {len(lines)} log lines =====")
        print("\n".join(lines[-LOG_TAIL_LINES:]))
