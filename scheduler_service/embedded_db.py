"""The embedded default database: a SecantusDB MongoDB-wire server run as a child process.

With ``MONGODB_URI`` unset the service starts a SecantusDB server (``embedded_server``) on
127.0.0.1 with its data under ``DATA_DIR/db`` and talks to it with pymongo like to any
MongoDB. Several
processes on one machine (gunicorn workers, the CLI) share one server: the first one to
take the lock file starts it, the others find it answering and reuse it.

The child gets SIGTERM when the thread that started it dies (Linux ``PR_SET_PDEATHSIG``),
so a server never outlives the process that owns it; under gunicorn the master owns it
(``deploy/gunicorn.conf.py`` starts it in ``on_starting``).

The process that started the server watches it (``_Watchdog``): if it exits while the
service is not stopping (killed, crashed), it is started again on the same data folder and
port, after a pause that doubles while restarts keep failing (0.5 s up to 30 s). The
clients' pymongo reconnects by itself.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from scheduler_service.errors import ConfigError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# (server, data dir, pid of the process that started it): a forked child (a gunicorn
# worker) inherits this list but must not stop its parent's server.
_started: list[tuple[subprocess.Popen[bytes], Path, int]] = []
# Held while a watchdog restarts a server and while the servers are taken out of _started
# to be stopped: a server that is not in _started any more is not restarted.
_restarting = threading.Lock()
FIRST_RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 30.0
# A server that ran this long before exiting was healthy: the next restart waits the least.
STEADY_RUN_S = 60.0


def embedded_uri(port: int, database: str = "job_scheduler") -> str:
    """The URI of a SecantusDB server on 127.0.0.1 (tests and benchmarks use it too)."""
    # retryWrites=false: SecantusDB scans its retryable-write table on every write, and its
    # write rate collapses after ~10k writes with it on. Real MongoDB keeps the default.
    return f"mongodb://127.0.0.1:{port}/{database}?retryWrites=false&directConnection=true"


def ensure_server(data_dir: str, port: int, start_timeout_s: float = 30.0) -> str:
    """Start the embedded server unless one already answers on ``port``; return its URI."""
    root = Path(data_dir).resolve()
    (root / "db").mkdir(parents=True, exist_ok=True)
    with open(root / "embedded.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(port):
            log.info("using the embedded database already running on 127.0.0.1:%d", port)
            return embedded_uri(port)
        require_installed()
        process = _spawn(root, port)
        _wait_until_up(process, port, start_timeout_s, root)
        (root / "embedded.pid").write_text(str(process.pid))
        if not _started:
            atexit.register(stop_started_servers)
        _started.append((process, root, os.getpid()))
    log.info("started the embedded database on 127.0.0.1:%d (data in %s)", port, root / "db")
    _Watchdog(process, root, port, start_timeout_s).start()
    return embedded_uri(port)


class _Watchdog(threading.Thread):
    """Starts the server again, on the same folder and port, whenever it exits unexpectedly.

    It is also the thread that spawns the replacement, and it lives as long as the process:
    ``PR_SET_PDEATHSIG`` signals a child when the thread that started it ends."""

    def __init__(self, process: subprocess.Popen[bytes], root: Path, port: int,
                 start_timeout_s: float) -> None:  # fmt: skip
        super().__init__(name="embedded-db-watchdog", daemon=True)
        self._process, self._root, self._port = process, root, port
        self._start_timeout_s = start_timeout_s

    def run(self) -> None:
        delay = FIRST_RESTART_DELAY_S
        started_at = time.monotonic()
        while True:
            code = self._process.wait()
            if not self._watched():
                return  # stopped on purpose
            if time.monotonic() - started_at >= STEADY_RUN_S:
                delay = FIRST_RESTART_DELAY_S
            log.error("embedded database (pid %d) exited with code %s; restarting it in %.1f s",
                      self._process.pid, code, delay)  # fmt: skip
            while True:
                time.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_DELAY_S)
                outcome = self._restart()
                if outcome != "failed":
                    break
            if outcome != "restarted":
                return
            started_at = time.monotonic()

    def _watched(self) -> bool:
        with _restarting:
            return any(entry[0] is self._process for entry in _started)

    def _restart(self) -> str:
        """"restarted", "failed" (try again later), or "gone": stopped meanwhile, or another
        process's server answers on the port (that process watches it)."""
        with _restarting:
            if not any(entry[0] is self._process for entry in _started):
                return "gone"
            try:
                with open(self._root / "embedded.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if _answers(self._port):
                        log.warning("another process's embedded database answers on "
                                    "127.0.0.1:%d; using it", self._port)  # fmt: skip
                        return "gone"
                    process = _spawn(self._root, self._port)
                    _wait_until_up(process, self._port, self._start_timeout_s, self._root)
                    (self._root / "embedded.pid").write_text(str(process.pid))
            except (OSError, RuntimeError) as exc:
                log.error("restarting the embedded database failed: %s", exc)
                return "failed"
            for index, entry in enumerate(_started):
                if entry[0] is self._process:
                    _started[index] = (process, entry[1], entry[2])
            self._process = process
        log.warning("restarted the embedded database on 127.0.0.1:%d (pid %d, data in %s)",
                    self._port, process.pid, self._root / "db")  # fmt: skip
        return "restarted"


def require_installed() -> None:
    """SecantusDB is the ``embedded`` extra, not a dependency of the library: without it,
    an unset MONGODB_URI is a configuration error (one line), not a child's traceback."""
    try:
        found = importlib.util.find_spec("secantus.server") is not None
    except ImportError:
        found = False
    if not found:
        raise ConfigError(
            "MONGODB_URI: not set, and the embedded database is not installed: set it, or "
            "install the extra: pip install 'scheduler-service[embedded]'"
        )


def stop_started_servers(timeout_s: float = 10.0) -> None:
    """Stop the servers this process started, cleanly (WiredTiger closes its files).

    Runs at exit. It holds the lock while the server shuts down, so that another process
    does not find the dying server still answering and reuse it.
    """
    with _restarting:  # a restart under way finishes first; none begins after this
        ours = [entry for entry in _started if entry[2] == os.getpid()]
        _started[:] = [entry for entry in _started if entry[2] != os.getpid()]
    for process, root, _ in reversed(ours):
        with open(root / "embedded.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def server_command(storage_path: Path, port: int) -> list[str]:
    """The command line of a SecantusDB server on 127.0.0.1 (tests and benchmarks use it
    too): ``scheduler_service.embedded_server``, which says why and how it is configured."""
    return [
        sys.executable,
        "-m",
        "scheduler_service.embedded_server",
        "--port",
        str(port),
        "--storage-path",
        str(storage_path),
    ]


def _spawn(root: Path, port: int) -> subprocess.Popen[bytes]:
    command = server_command(root / "db", port)
    with open(root / "embedded.log", "ab") as log_file:  # the child keeps its own copy
        return subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            close_fds=True,
        )


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # a Ctrl-C in the terminal reaches the service, which then stops us cleanly


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_up(
    process: subprocess.Popen[bytes], port: int, timeout_s: float, root: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"embedded database exited with code {process.returncode}; "
                f"see {root / 'embedded.log'}"
            )
        if _answers(port):
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"embedded database did not start within {timeout_s:.0f} s")
