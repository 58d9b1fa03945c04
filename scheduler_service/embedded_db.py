"""The embedded default database: a SecantusDB MongoDB-wire server run as a child process.

With ``MONGODB_URI`` unset the service starts a SecantusDB server (``embedded_server``) on
127.0.0.1 with its data under ``DATA_DIR/db`` and talks to it with pymongo like to any
MongoDB. Several
processes on one machine (gunicorn workers, the CLI) share one server: the first one to
take the lock file starts it, the others find it answering and reuse it.

The child gets SIGTERM when the thread that started it dies (Linux ``PR_SET_PDEATHSIG``),
so a server never outlives the process that owns it; under gunicorn the master owns it
(``deploy/gunicorn.conf.py`` starts it in ``on_starting``).
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
import time
from pathlib import Path

from scheduler_service.errors import ConfigError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# (server, data dir, pid of the process that started it): a forked child (a gunicorn
# worker) inherits this list but must not stop its parent's server.
_started: list[tuple[subprocess.Popen[bytes], Path, int]] = []


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
    return embedded_uri(port)


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
    while _started:
        process, root, starter = _started.pop()
        if starter != os.getpid():
            continue
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
