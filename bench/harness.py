"""What every section of a bench run shares: one SecantusDB server and one fast HTTP target,
each in its own process, the service processes the sections start, py-spy profiles, and
the time budget (``Bench``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.database import Database

from bench import writes
from bench.procs import Child, Children, base_env, cpu_seconds, free_port, python, wait_port
from bench.stats import log
from scheduler_service.embedded_db import embedded_uri, server_command

if TYPE_CHECKING:
    from bench.options import Plan

CONCURRENCY = 64
API_KEY = "bench-only-api-key-0123456789abcdef"
BUDGET_S = 870.0  # issue 19: the whole bench within about 15 minutes


class Bench:
    def __init__(self, plan: Plan, run_dir: Path, profile: bool) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.profile = profile
        self.started = time.monotonic()
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        if profile:
            (run_dir / "profiles").mkdir(exist_ok=True)
        self.children = Children(run_dir / "logs")
        self.db_dir = Path(tempfile.mkdtemp(prefix="scheduler-bench-db-"))
        self.db_port = free_port()
        self.target_port = free_port()
        self.db: Child | None = None
        self.client: MongoClient | None = None
        self.skipped: list[str] = []
        self.failed: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def affordable(self, name: str, estimate_s: float) -> bool:
        if self.elapsed() + estimate_s <= BUDGET_S:
            return True
        log(f"skipping {name}: about {estimate_s:.0f} s left to do, {self.elapsed():.0f} s used")
        self.skipped.append(name)
        return False

    def guard(self, name: str, section: Callable[[], Any]) -> Any:
        """Run one section; if it fails, log why, note it for the table and go on."""
        try:
            return section()
        except Exception as exc:
            log(f"{name} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            self.failed.append(f"{name} ({type(exc).__name__}: {str(exc)[:160]})")
            return None

    def start(self) -> None:
        self.target = self.children.start(
            "target", python("-m", "bench.target", "--port", str(self.target_port)))
        self.target.expect("ready", 30)
        self.db = self.children.start(
            "secantusdb", server_command(self.db_dir / "db", self.db_port))
        wait_port(self.db_port, self.db, 60)
        self.client = MongoClient(self.uri("admin"), tz_aware=True)
        self.client.admin.command("ping")
        log(f"SecantusDB on 127.0.0.1:{self.db_port} (pid {self.db.pid}), "
            f"target on 127.0.0.1:{self.target_port}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.children.stop_all()
        shutil.rmtree(self.db_dir, ignore_errors=True)

    def uri(self, database: str) -> str:
        return embedded_uri(self.db_port, database)

    def database(self, name: str) -> Database:
        assert self.client is not None
        self.client.drop_database(name)
        return self.client[name]

    def drop(self, name: str) -> None:
        assert self.client is not None
        self.client.drop_database(name)

    def target_url(self, path: str = "/tick") -> str:
        return f"http://127.0.0.1:{self.target_port}{path}"

    def target_count(self, reset: bool = False) -> int:
        path = "/__reset" if reset else "/__count"
        with urllib.request.urlopen(self.target_url(path), timeout=5) as response:
            return int(response.read())

    def db_cpu_s(self) -> float:
        assert self.db is not None
        return cpu_seconds(self.db.pid)

    def service_env(self, database: str, workers: int = CONCURRENCY,
                    **settings: str) -> dict[str, str]:
        return base_env(
            MONGODB_URI=self.uri(database),
            MAX_CONCURRENT_JOBS=str(workers),
            ALLOW_PRIVATE_TARGETS="true",  # the target is on 127.0.0.1
            RATE_LIMIT="off",  # one load generator, one address: it would measure 429s
            API_KEYS=API_KEY,
            SECRET_KEY="s" * 32,  # required with API_KEYS
            DATA_DIR=str(self.db_dir / "unused"),
            **settings,
        )

    def start_service(self, database: str, label: str, profile: bool = False,
                      env: dict[str, str] | None = None) -> Child:
        """The service in its own process; ``child.service_pid`` is its Python process.

        Profiled: under ``py-spy record`` (CPU samples, by thread).
        """
        argv = python("-m", "bench.service")
        if profile:
            argv = [self.py_spy(), "record", "--nonblocking", "--threads",
                    "--rate", "100", "--format", "raw",
                    "-o", str(self.run_dir / "profiles" / f"{label}.txt"), "--", *argv]
        child = self.children.start(label, argv, env=env or self.service_env(database),
                                    stdin=True)
        child.service_pid = int(child.expect("ready", 60).split()[1])
        return child

    def stop_service(self, child: Child) -> None:
        try:
            if child.alive():
                child.ask("stop", timeout_s=40)
                child.process.wait(60)  # under py-spy: until the profile is written
        except (OSError, TimeoutError, RuntimeError, ValueError,
                subprocess.TimeoutExpired) as exc:
            log(f"{child.name}: no clean stop ({exc})")
        self.children.stop(child, grace_s=30)

    def py_spy(self) -> str:
        path = Path(sys.executable).parent / "py-spy"
        found = str(path) if path.exists() else shutil.which("py-spy")
        if not found:
            raise SystemExit("--profile needs py-spy: pip install -r bench/requirements.txt")
        return found

    def profile_db(self, label: str) -> Child | None:
        if not self.profile or self.db is None:
            return None
        return self.children.start(f"py-spy-{label}", [
            self.py_spy(), "record", "--nonblocking", "--rate", "100", "--format", "raw",
            "--pid", str(self.db.pid), "-o", str(self.run_dir / "profiles" / f"{label}.txt")])

    def end_profile(self, child: Child | None) -> None:
        if child is None:
            return
        try:
            os.killpg(child.pid, signal.SIGINT)  # py-spy writes its file on Ctrl-C
            child.process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.children.stop(child, grace_s=5)

    def summarize_profiles(self) -> None:
        from bench.profile_summary import summarize

        for raw in sorted((self.run_dir / "profiles").glob("*.txt")):
            if raw.name.endswith(".summary.txt"):
                continue
            try:
                raw.with_suffix(".summary.txt").write_text(summarize(raw) + "\n")
            except (OSError, ValueError) as exc:
                log(f"could not summarize {raw.name}: {exc}")

    def opcounters(self) -> dict[str, int]:
        assert self.client is not None
        return writes.opcounters(self.client)
