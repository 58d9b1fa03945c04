"""Child processes of the bench: started in their own process group, always stopped.

Every child is registered in a ``Children`` and stopped by ``stop_all()`` (SIGTERM to its
own process group, then SIGKILL after a grace period), which the bench calls in a
``finally`` and at exit. A child also gets SIGTERM if the bench dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from scheduler_service.config import variables

_PR_SET_PDEATHSIG = 1
ROOT = Path(__file__).resolve().parent.parent  # the repository


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _child_setup() -> None:
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a child: ours, minus the service's settings, plus ``extra``."""
    service_vars = variables()
    env = {k: v for k, v in os.environ.items() if k not in service_vars}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Child:
    """One child process; its stdout lines are read by a thread into a queue."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path,
                 cwd: Path, stdin: bool) -> None:
        self.name = name
        self.log_path = log_path
        self.service_pid = 0  # set by the caller when the child reports its Python pid
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=str(cwd),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            preexec_fn=_child_setup,
            close_fds=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._log.write(raw)
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout_s: float) -> str:
        """The next stdout line starting with ``prefix`` (other lines are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {prefix!r} within {timeout_s:.0f} s "
                                   f"(see {self.log_path})")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited with {self.process.wait()} "
                                   f"(see {self.log_path})")
            if line.startswith(prefix):
                return line

    def ask(self, command: str, timeout_s: float = 60.0) -> Any:
        """Send one command line; return the JSON of the reply line ``= {...}``."""
        assert self.process.stdin is not None
        self.process.stdin.write((command + "\n").encode())
        self.process.stdin.flush()
        return json.loads(self.expect("= ", timeout_s)[2:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 10.0) -> int | None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # Anything left in its process group (a gunicorn worker, a server it started).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._reader.join(2)
        self._log.close()
        return self.process.returncode


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
              cwd: Path = ROOT, stdin: bool = False) -> Child:
        child = Child(name, argv, env or base_env(), self.log_dir / f"{name}.log", cwd, stdin)
        with self._lock:
            self._children.append(child)
        return child

    def stop(self, child: Child, grace_s: float = 10.0) -> int | None:
        with self._lock:
            if child in self._children:
                self._children.remove(child)
        return child.stop(grace_s)

    def stop_all(self) -> None:
        with self._lock:
            children, self._children = self._children, []
        for child in reversed(children):
            child.stop(5.0)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def wait_port(port: int, child: Child, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited (see {child.log_path})")
        if answers(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} did not listen on {port} within {timeout_s:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
