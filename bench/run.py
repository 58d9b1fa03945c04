"""``python -m bench [--quick] [--only ...] [--profile]``: the figures of issues 5 and 19.

One SecantusDB server (a fresh data directory) and one fast HTTP target, each in its own
process, serve every section; each section uses a fresh database on that server and drops
it afterwards. Sections, in this order (a section that would overrun the time budget is
skipped and says so):

1. burst: issue 19's bursts, this service against APScheduler 3 (``bench/burst.py``), every
   round;
2. light, multi, heavy: every-second jobs for a while (``bench/lateness.py``);
3. round 0: ceiling (HTTP client alone, database writes alone), throughput, APScheduler peer;
4. scale: poll cost and idle memory with few and with many registered jobs;
5. api: create and list requests per second under gunicorn;
   apiscale: list p50 per filter, stats p50 and the create rate while filling, at the
   scale section's larger size (``bench/api_scale.py``);
6. rounds 1..n-1: ceiling, throughput and peer again, for medians.

Ratios are taken within a round (side by side), then their median. Prints a table, issue
19's targets as markdown (``bench/report.py``), then one JSON line with every figure; all
go to ``bench/results/`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
from pymongo import MongoClient
from pymongo.database import Database

from bench import api_scale, burst, ceiling, jobs, lateness, report, writes
from bench.procs import (
    ROOT,
    Child,
    Children,
    base_env,
    cpu_seconds,
    free_port,
    python,
    wait_port,
)
from bench.report import fmt, verdict
from bench.stats import log, median, percentile, whole_second_after
from scheduler_service.embedded_db import embedded_uri, server_command

CONCURRENCY = 64
API_KEY = "bench-only-api-key-0123456789abcdef"
RESULTS = ROOT / "bench" / "results"
BUDGET_S = 870.0  # issue 19: the whole bench within about 15 minutes


@dataclass(frozen=True)
class Plan:
    runs: int  # rounds of ceiling + throughput + peer
    ticks: int  # throughput: ticks due in the same second (and the peer's)
    http_requests: int  # HTTP ceiling
    db_executions: int  # database ceiling, per concurrency level
    light_seconds: int  # 20 every-second jobs, one process
    multi_seconds: int  # 200 every-second jobs, three processes
    heavy_seconds: int  # 500 every-second jobs, one process
    scale_sizes: tuple[int, int]
    poll_reps: int
    idle_seconds: float
    api_runs: int
    api_seconds: float
    api_threads: int
    burst_runs: int  # rounds of the issue-19 burst (service, two APScheduler peers)
    burst_sizes: tuple[int, ...]


FULL = Plan(runs=3, ticks=5000, http_requests=5000, db_executions=800, light_seconds=60,
            multi_seconds=60, heavy_seconds=120, scale_sizes=(1000, 100_000), poll_reps=5,
            idle_seconds=4.0,
            api_runs=3, api_seconds=5.0, api_threads=16, burst_runs=3,
            burst_sizes=burst.SIZES)
QUICK = Plan(runs=1, ticks=1000, http_requests=2000, db_executions=300, light_seconds=10,
             multi_seconds=20, heavy_seconds=20, scale_sizes=(1000, 20_000), poll_reps=3,
             idle_seconds=3.0,
             api_runs=1, api_seconds=3.0, api_threads=16, burst_runs=1,
             burst_sizes=burst.SIZES)

SECTIONS = ("burst", "light", "multi", "heavy", "throughput", "scale", "api", "apiscale")
QUICK_SECTIONS = ("burst", "light", "multi", "heavy", "apiscale")  # --quick: issue 19's, shorter
LATENESS = {"light": lateness.light, "multi": lateness.multi, "heavy": lateness.heavy}


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

    # -- infrastructure ------------------------------------------------------------------

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

    # -- 1. ceiling ----------------------------------------------------------------------

    def ceiling(self, round_no: int) -> dict[str, Any]:
        plan = self.plan
        http = ceiling.http_rate(self.target_url("/ceiling"), plan.http_requests, CONCURRENCY)
        db_runs = {}
        for threads in (CONCURRENCY, 1):
            name = f"ceiling{round_no}_{threads}"
            db_runs[threads] = ceiling.db_rate(self.database(name), plan.db_executions, threads)
            self.drop(name)
        db_best = max(run["rate"] for run in db_runs.values())
        result = {
            "httpRate": http["rate"],
            "httpErrors": http["errors"],
            "dbRate": db_best,
            "dbRateAt64": db_runs[CONCURRENCY]["rate"],
            "dbRateAt1": db_runs[1]["rate"],
            "dbErrors": sum(run["errors"] + run["lost"] for run in db_runs.values()),
            "rate": min(http["rate"], db_best),
            "boundBy": "http" if http["rate"] < db_best else "database",
        }
        log(f"round {round_no} ceiling: HTTP {http['rate']}/s, DB writes {db_best} exec/s "
            f"(64 threads {db_runs[CONCURRENCY]['rate']}, 1 thread {db_runs[1]['rate']})")
        return result

    # -- 2. throughput -------------------------------------------------------------------

    def throughput(self, round_no: int) -> dict[str, Any]:
        result = self.service_burst(f"throughput{round_no}", f"service-throughput{round_no}",
                                    self.plan.ticks, CONCURRENCY,
                                    profile=self.profile and round_no == 0)
        log(f"round {round_no} throughput: {result['rate']} exec/s, "
            f"{result['roundTripsPerExecution']} round trips/execution"
            + ("" if result["complete"] else " (INCOMPLETE)"))
        return result

    def service_burst(self, name: str, label: str, ticks: int, workers: int,
                      profile: bool = False) -> dict[str, Any]:
        """``ticks`` jobs due in one second, the service with ``workers``: its figures."""
        db = self.database(name)
        service = self.start_service(name, label, profile,
                                     env=self.service_env(name, workers))
        db_profile = None
        try:
            base = jobs.template(jobs.NEVER_AGAIN, self.target_url("/tick"))
            due = whole_second_after(2.0 + ticks / 2000)
            jobs.insert(db["jobs"], jobs.documents(base, [due] * ticks))
            margin = (due - datetime.now(UTC)).total_seconds()
            self.target_count(reset=True)
            service.ask("reset")
            db_profile = self.profile_db(f"db-{label}") if profile else None
            ops0 = self.opcounters()
            cpu0 = (cpu_seconds(service.service_pid), self.db_cpu_s(), time.monotonic())
            cap = 30.0 + ticks / 25  # bounded: at least 25 executions/s or give up
            complete = self._wait_recorded(db, ticks, due, cap)
            cpu1 = (cpu_seconds(service.service_pid), self.db_cpu_s(), time.monotonic())
            ops1 = self.opcounters()
            counts = service.ask("counts")
        finally:
            self.end_profile(db_profile)
            self.stop_service(service)
        result = self._throughput_figures(db, due, ticks, counts)
        recorded = result["recorded"]
        wall = cpu1[2] - cpu0[2]
        result.update(
            workers=workers, seedMarginS=round(margin, 2), complete=complete,
            serviceCpuMsPerExecution=writes.per((cpu1[0] - cpu0[0]) * 1000, recorded),
            dbCpuMsPerExecution=writes.per((cpu1[1] - cpu0[1]) * 1000, recorded),
            serviceCpuPercent=round((cpu1[0] - cpu0[0]) / wall * 100, 1),
            dbCpuPercent=round((cpu1[1] - cpu0[1]) / wall * 100, 1),
            documentsWritten=counts["documentsWritten"],
            documentWritesPerExecution=writes.per(counts["documentsWritten"], recorded),
            writeOps=writes.write_ops(ops0, ops1),
            writeOpsPerExecution=writes.per(writes.write_ops(ops0, ops1), recorded),
        )
        self.drop(name)
        return result

    def opcounters(self) -> dict[str, int]:
        assert self.client is not None
        return writes.opcounters(self.client)

    def _wait_recorded(self, db: Database, count: int, due: datetime, cap_s: float) -> bool:
        """Until ``count`` attempts are recorded as finished (or ``cap_s`` after ``due``).

        Watches the target's request count (free) and asks the database only when the
        target has seen them all or stalls, so the bench adds almost no database load.
        """
        end = due + timedelta(seconds=cap_s)
        last, last_change = -1, time.monotonic()
        while datetime.now(UTC) < end:
            seen = self.target_count()
            if seen != last:
                last, last_change = seen, time.monotonic()
            if seen >= count or time.monotonic() - last_change > 3:
                finished = db["job_executions"].count_documents(
                    {"status": {"$in": ["success", "failure"]}})
                if finished >= count:
                    return True
                if time.monotonic() - last_change > 30:
                    log(f"no progress for 30 s: {finished} of {count} recorded")
                    return False
            time.sleep(0.25)
        return False

    def _throughput_figures(self, db: Database, due: datetime, ticks: int,
                            counts: dict[str, Any]) -> dict[str, Any]:
        rows = list(db["job_executions"].find(
            {}, projection={"startedAt": 1, "completedAt": 1, "status": 1, "scheduledAt": 1}))
        finished = [r for r in rows if r.get("completedAt") is not None]
        successes = sum(1 for r in finished if r["status"] == "success")
        last = max((r["completedAt"] for r in finished), default=due)
        first_start = min((r["startedAt"] for r in rows), default=due)
        span = max((last - due).total_seconds(), 1e-3)
        lags = sorted((r["startedAt"] - r["scheduledAt"]).total_seconds() * 1000 for r in rows)
        total = counts["total"]
        return {
            "ticks": ticks,
            "recorded": len(finished),
            "successes": successes,
            "seconds": round(span, 3),
            "rate": round(len(finished) / span, 1),
            "firstStartAfterDueMs": round((first_start - due).total_seconds() * 1000, 1),
            "startLagP50Ms": percentile(lags, 0.5),
            "startLagMaxMs": percentile(lags, 1.0),
            "roundTrips": total,
            "roundTripsPerExecution": round(total / max(len(finished), 1), 2),
            "commands": counts["commands"],
            "failedCommands": counts["failed"],
        }

    # -- 6. peer -------------------------------------------------------------------------

    def peer(self, round_no: int, ticks: int | None = None,
             threads: int = CONCURRENCY) -> dict[str, Any]:
        """APScheduler 3 with its memory store: ``ticks`` (the plan's) due at one second."""
        ticks = ticks or self.plan.ticks
        at = time.time() + 3.0 + ticks / 2500
        cap = 30.0 + ticks / 25
        child = self.children.start(f"peer{round_no}-{ticks}", python(
            "-m", "bench.peer", "--url", self.target_url("/peer"), "--count", str(ticks),
            "--threads", str(threads), "--at", f"{at:.3f}", "--timeout", str(cap)))
        try:
            result = json.loads(child.expect("= ", at - time.time() + cap + 60)[2:])
        finally:
            self.children.stop(child, grace_s=5)
        log(f"round {round_no} APScheduler (memory store, {ticks} ticks, {threads} threads): "
            f"{result['rate']} exec/s")
        return result

    # -- 4. scale ------------------------------------------------------------------------

    def scale(self) -> dict[str, Any]:
        return {str(size): self._scale(size) for size in self.plan.scale_sizes}

    def _scale(self, size: int) -> dict[str, Any]:
        from scheduler_service.stores.executions import INDEXES as EXECUTION_INDEXES
        from scheduler_service.stores.jobs import INDEXES as JOB_INDEXES

        name = f"scale{size}"
        db = self.database(name)
        now = datetime.now(UTC).replace(microsecond=0)
        due, far = now + timedelta(days=1), now + timedelta(days=300)
        base = jobs.template(jobs.NEVER_AGAIN, self.target_url("/scale"))
        began = time.monotonic()
        jobs.insert(db["jobs"], jobs.documents(
            base, (due if i % 20 == 0 else far for i in range(size))))  # 5% due
        db["jobs"].create_indexes(JOB_INDEXES)  # faster after the bulk insert than before it
        db["job_executions"].create_indexes(EXECUTION_INDEXES)
        seed_s = time.monotonic() - began

        # Idle: nothing falls due for a day. Memory of the service, CPU of the database.
        service = self.start_service(name, f"service-idle{size}")
        try:
            time.sleep(1.0)
            cpu0, t0 = self.db_cpu_s(), time.monotonic()
            time.sleep(self.plan.idle_seconds)
            db_cpu = (self.db_cpu_s() - cpu0) / (time.monotonic() - t0)
            memory = service.ask("rss")
        finally:
            self.stop_service(service)

        polls = self._poll_costs(name, due)
        self.drop(name)
        result = {"jobs": size, "due": (size + 19) // 20, "seedSeconds": round(seed_s, 1),
                  "idleRssKiB": memory["rssKiB"], "idleThreads": memory["threads"],
                  "idleDbCpuPercent": round(db_cpu * 100, 1), **polls}
        log(f"scale {size}: poll {result['pollMs']} ms ({result['claimedPerPoll']} claims, "
            f"query {result['queryMs']} ms), idle RSS {memory['rssKiB'] // 1024} MiB, "
            f"idle DB CPU {result['idleDbCpuPercent']}%")
        return result

    def _poll_costs(self, name: str, due: datetime) -> dict[str, Any]:
        """One poll as the service makes it: ``Scheduler.poll_once()`` (its queries), then the
        claims of the ticks it returned (``Claimer.claim``, batched as the dispatcher
        does)."""
        from scheduler_service.clock import FixedClock
        from scheduler_service.config import Config
        from scheduler_service.db import connect
        from scheduler_service.runtime import compose

        config = Config(mongodb_uri=self.uri(name), max_concurrent_jobs=CONCURRENCY,
                        scheduler_enabled=False)
        client, database, _ = connect(config)
        clock = FixedClock(due + timedelta(milliseconds=500))
        query_ms, claim_ms, claimed_counts = [], [], []
        try:
            for _ in range(self.plan.poll_reps):
                runtime = compose(config, clock, database, client, "external")
                scheduler = runtime.new_scheduler(owner="bench-poll")
                began = time.perf_counter()
                scheduler.poll_once()
                polled = time.perf_counter()
                candidates = [c for c in scheduler.queue.close() if c.entry is None]
                won = scheduler.claimer.claim(candidates).won
                claimed = [claim.job.id for _, claim in won]
                done = time.perf_counter()
                scheduler.dispatcher.pool.shutdown(wait=False)
                assert scheduler.executor.writes is not None
                scheduler.executor.writes.close()
                query_ms.append((polled - began) * 1000)
                claim_ms.append((done - polled) * 1000)
                claimed_counts.append(len(claimed))
                with pymongo.timeout(300):  # put the claimed ticks back (not timed; slow)
                    database["jobs"].update_many(
                        {"_id": {"$in": claimed}},
                        {"$set": {"nextRunAt": due, "inflight": [], "lastRunAt": None}})
        finally:
            client.close()
        claims = median(claimed_counts) or 0
        poll = median([q + c for q, c in zip(query_ms, claim_ms, strict=True)])
        return {
            "queryMs": median(query_ms),
            "claimMs": median(claim_ms),
            "claimedPerPoll": claims,
            "pollMs": poll,
            "pollMsPerClaim": round(poll / claims, 3) if claims and poll else None,
        }

    # -- 5. API --------------------------------------------------------------------------

    def api(self) -> dict[str, Any]:
        plan = self.plan
        name = "api"
        self.database(name)
        port = free_port()
        env = self.service_env(name)
        env["BIND"] = f"127.0.0.1:{port}"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        server = self.children.start(
            "gunicorn", [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
            env=env)
        results: dict[str, list[dict[str, Any]]] = {"create": [], "list": []}
        try:
            wait_port(port, server, 60)
            self._wait_http(f"http://127.0.0.1:{port}/api/observability/health", 60)
            for mode in ("create", "list"):
                for run in range(plan.api_runs):
                    child = self.children.start(f"loadgen-{mode}{run}", python(
                        "-m", "bench.loadgen", "--port", str(port), "--mode", mode,
                        "--threads", str(plan.api_threads), "--seconds", str(plan.api_seconds),
                        "--key", API_KEY))
                    try:
                        results[mode].append(
                            json.loads(child.expect("= ", plan.api_seconds + 90)[2:]))
                    finally:
                        self.children.stop(child, grace_s=5)
        finally:
            self.children.stop(server, grace_s=30)
        assert self.client is not None
        stored = self.client[name]["jobs"].count_documents({})
        self.drop(name)

        def summary(mode: str) -> dict[str, Any]:
            runs = results[mode]
            return {"rps": median([r["rps"] for r in runs]),
                    "p50Ms": median([r["p50Ms"] for r in runs]),
                    "p99Ms": median([r["p99Ms"] for r in runs]),
                    "errors": sum(r["errors"] for r in runs), "runs": runs}

        result = {"workers": int(env.get("WEB_CONCURRENCY", "2")),
                  "threadsPerWorker": int(env.get("GUNICORN_THREADS", "4")),
                  "clients": plan.api_threads, "jobsWhenListing": stored,
                  "create": summary("create"), "list": summary("list")}
        log(f"API: create {result['create']['rps']} req/s, list {result['list']['rps']} req/s")
        return result

    def _wait_http(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_KEY}"})
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


# -- assembling the figures ----------------------------------------------------------------


def summarize(plan: Plan, rounds: list[dict[str, Any]],
              scale: dict[str, Any] | None, api: dict[str, Any] | None) -> dict[str, Any]:
    def across(key: str, field: str) -> float | None:
        return median([r[key][field] for r in rounds if key in r])

    ratios = [r["throughput"]["rate"] / r["ceiling"]["rate"]
              for r in rounds if "throughput" in r and r["ceiling"]["rate"]]
    peer_ratios = [r["peer"]["rate"] / r["ceiling"]["httpRate"]
                   for r in rounds if "peer" in r and r["ceiling"]["httpRate"]]
    vs_peer = [r["throughput"]["rate"] / r["peer"]["rate"]
               for r in rounds if "peer" in r and "throughput" in r and r["peer"]["rate"]]
    figures: dict[str, Any] = {
        "ceiling": {
            "httpRate": across("ceiling", "httpRate"),
            "dbRate": across("ceiling", "dbRate"),
            "dbRateAt64": across("ceiling", "dbRateAt64"),
            "dbRateAt1": across("ceiling", "dbRateAt1"),
            "rate": across("ceiling", "rate"),
        },
        "throughput": {
            "ticks": plan.ticks,
            "rate": across("throughput", "rate"),
            "ratioToCeiling": median(ratios),
            "roundTripsPerExecution": across("throughput", "roundTripsPerExecution"),
            "startLagP50Ms": across("throughput", "startLagP50Ms"),
        },
        "peer": {
            "name": "APScheduler 3 BackgroundScheduler",
            "rate": across("peer", "rate"),
            "ratioToHttpCeiling": median(peer_ratios),
            "serviceToPeer": median(vs_peer),
        },
        "scale": scale,
        "api": api,
        "runs": len(rounds),
        "rounds": rounds,
    }
    figures["targets"] = targets(figures)
    return figures


def targets(f: dict[str, Any]) -> dict[str, Any]:
    def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
        return None if value is None else bool(ok(value))

    out: dict[str, Any] = {}
    out["throughput>=70%ceiling"] = check(f["throughput"]["ratioToCeiling"], lambda v: v >= 0.7)
    out["roundTrips<=2"] = check(f["throughput"]["roundTripsPerExecution"], lambda v: v <= 2)
    scale = f.get("scale")
    if scale:
        small, large = (scale[k] for k in sorted(scale, key=int))
        # The target compares one whole poll (queries + the claims of what it returned);
        # per claim and query alone are shown to tell the two causes apart.
        out["pollCostRatio"] = round(large["pollMs"] / small["pollMs"], 2)
        per_claim = (large["pollMsPerClaim"] / small["pollMsPerClaim"]
                     if large["pollMsPerClaim"] and small["pollMsPerClaim"] else None)
        out["pollCostPerClaimRatio"] = round(per_claim, 2) if per_claim else None
        out["pollQueryRatio"] = round(large["queryMs"] / small["queryMs"], 2)
        out["pollCost<=1.5x"] = check(out["pollCostRatio"], lambda v: v <= 1.5)
        rss = large["idleRssKiB"] / small["idleRssKiB"]
        out["idleRssRatio"] = round(rss, 3)
        out["idleRss<=1.2x"] = rss <= 1.2
    return out


def table(f: dict[str, Any], meta: dict[str, Any]) -> str:
    t = f["targets"]
    rows: list[tuple[str, str, str, str]] = report.rows(f)
    c, tp, peer = f["ceiling"], f["throughput"], f["peer"]
    if f["runs"]:
        rows += [
            ("ceiling: HTTP client alone", fmt(c["httpRate"], " req/s"), "", ""),
            ("ceiling: DB writes of one execution", fmt(c["dbRate"], " exec/s"),
             f"64 thr {fmt(c['dbRateAt64'])}, 1 thr {fmt(c['dbRateAt1'])}", ""),
            ("ceiling (lower of the two)", fmt(c["rate"], " exec/s"), "", ""),
            (f"throughput: {tp['ticks']} ticks due at once", fmt(tp["rate"], " exec/s"),
             "", ""),
            ("throughput / ceiling", fmt(tp["ratioToCeiling"], "", 2), ">= 0.70",
             verdict(t["throughput>=70%ceiling"])),
            ("DB round trips per execution", fmt(tp["roundTripsPerExecution"], "", 2), "<= 2",
             verdict(t["roundTrips<=2"])),
        ]
    scale = f.get("scale")
    if scale:
        small, large = (scale[k] for k in sorted(scale, key=int))
        for s in (small, large):
            rows.append((f"poll cost, {s['jobs']:,} jobs ({s['due']:,} due)",
                         f"{fmt(s['pollMs'])} ms = query {fmt(s['queryMs'])} + "
                         f"{fmt(s['claimedPerPoll'], '', 0)} claims {fmt(s['claimMs'])}",
                         f"{fmt(s['pollMsPerClaim'], ' ms/claim', 2)}", ""))
        rows += [
            ("poll cost, large / small", fmt(t["pollCostRatio"], "x", 2),
             "<= 1.5x", verdict(t["pollCost<=1.5x"])),
            ("  per claim / query alone", f"{fmt(t['pollCostPerClaimRatio'], 'x', 2)} / "
             f"{fmt(t['pollQueryRatio'], 'x', 1)}", "", ""),
            ("idle RSS, small / large",
             f"{small['idleRssKiB'] / 1024:.1f} / {large['idleRssKiB'] / 1024:.1f} MiB",
             "<= 1.2x", verdict(t["idleRss<=1.2x"])),
            ("idle DB CPU, small / large",
             f"{small['idleDbCpuPercent']}% / {large['idleDbCpuPercent']}%", "", ""),
        ]
    api = f.get("api")
    if api:
        rows += [
            (f"API create (gunicorn {api['workers']}x{api['threadsPerWorker']}, "
             f"{api['clients']} clients)",
             f"{fmt(api['create']['rps'], ' req/s')} p99 {fmt(api['create']['p99Ms'])} ms",
             "", ""),
            (f"API list (20 of {api['jobsWhenListing']:,} jobs)",
             f"{fmt(api['list']['rps'], ' req/s')} p99 {fmt(api['list']['p99Ms'])} ms", "", ""),
        ]
    if f["runs"]:
        rows += [
            ("peer: APScheduler 3, same ticks", fmt(peer["rate"], " exec/s"),
             f"{fmt(peer['ratioToHttpCeiling'], '', 2)} of HTTP ceiling", ""),
            ("service / peer", fmt(peer["serviceToPeer"], "", 2), "", ""),
        ]
    if not rows:
        rows.append(("(no section ran)", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("figure", "value", "target / note", "")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    lines = [f"scheduler bench ({'quick' if meta['quick'] else 'full'}): "
             f"{meta['runs']} run(s), median; {meta['machine']}; commit {meta['commit']}; "
             f"load average {meta['loadAverageAtStart']:.1f} at start"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if meta["skipped"]:
        lines.append(f"skipped for the time budget: {', '.join(meta['skipped'])}")
    if meta.get("failed"):
        lines.append(f"FAILED (see the log above): {'; '.join(meta['failed'])}")
    return "\n".join(lines)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU {model}, Python {platform.python_version()}".strip()


def commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a snapshot without .git says what it is
        return os.environ["BENCH_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "scheduler_service"],
                               cwd=ROOT, text=True, capture_output=True, timeout=10).stdout
        return head + ("+dirty" if dirty.strip() else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Plan, set[str]]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="issue 19's sections, shorter (about 3 minutes)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)} "
                        f"(default: all; with --quick: {','.join(QUICK_SECTIONS)})")
    parser.add_argument("--runs", type=int,
                        help="rounds of the burst and of ceiling/throughput/peer (1-10)")
    parser.add_argument("--light-seconds", type=int, help="window of the light run (5-600)")
    parser.add_argument("--multi-seconds", type=int,
                        help="window of the 3-process run (5-600; the issue's target: 300)")
    parser.add_argument("--heavy-seconds", type=int, help="window of the 500-job run (5-600)")
    parser.add_argument("--burst-sizes", help="comma-separated burst sizes (default 600,2000)")
    parser.add_argument("--profile", action="store_true",
                        help="record py-spy profiles of the service and the database during "
                             "round 0 of the burst and the throughput, and the light, multi and "
                             "heavy runs "
                             "(into the results folder)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {}
    if args.runs:
        overrides["runs"] = overrides["burst_runs"] = max(1, min(args.runs, 10))
    for shape in LATENESS:
        if getattr(args, f"{shape}_seconds"):
            overrides[f"{shape}_seconds"] = max(5, min(getattr(args, f"{shape}_seconds"), 600))
    if args.burst_sizes:
        overrides["burst_sizes"] = tuple(max(1, min(int(n), 20_000))
                                         for n in args.burst_sizes.split(","))
    plan = Plan(**{**asdict(plan), **overrides})
    chosen = args.only or ",".join(QUICK_SECTIONS if args.quick else SECTIONS)
    only = {s.strip() for s in chosen.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args, plan, only


def run_bursts(bench: Bench, plan: Plan) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = []
    estimate = 20 + 3 * sum(plan.burst_sizes) / 100  # three runs a size, ~100/s or more
    for number in range(plan.burst_runs):
        if number and not bench.affordable(f"burst round {number}", estimate):
            break
        result = bench.guard(f"burst round {number}",
                             lambda n=number: burst.burst_round(bench, n, plan.burst_sizes))
        if result is not None:
            rounds.append(result)
    return rounds


def run_lateness(bench: Bench, plan: Plan, only: set[str]) -> dict[str, Any]:
    done = {}
    for name, shape_of in LATENESS.items():
        shape = shape_of(getattr(plan, f"{name}_seconds"))
        if name in only and bench.affordable(name, shape.estimate_s):
            result = bench.guard(name, lambda s=shape: lateness.run(bench, s))
            if result is not None:
                done[name] = result
    return done


def run_round(bench: Bench, number: int, rounds: list[dict[str, Any]]) -> None:
    """Round ``number`` of ceiling, throughput and the memory-store peer."""
    def one() -> dict[str, Any]:
        entry: dict[str, Any] = {"round": number, "ceiling": bench.ceiling(number)}
        entry["throughput"] = bench.throughput(number)
        entry["peer"] = bench.peer(number)
        return entry

    entry = bench.guard(f"round {number}", one)
    if entry is not None:
        rounds.append(entry)


def run_sections(bench: Bench, plan: Plan, only: set[str]) -> dict[str, Any]:
    """Run the sections in the order of the module docstring; return what ran."""
    done: dict[str, Any] = {"rounds": [], "scale": None, "api": None, "burst": [],
                            "lateness": {}}

    if "burst" in only:
        done["burst"] = run_bursts(bench, plan)
    done["lateness"] = run_lateness(bench, plan, only)
    if "throughput" in only:
        run_round(bench, 0, done["rounds"])
    if "scale" in only and bench.affordable("scale", 15 + plan.scale_sizes[1] / 1500):
        done["scale"] = bench.guard("scale", bench.scale)
    if "api" in only and bench.affordable("api", 20 + 2 * plan.api_runs * plan.api_seconds):
        done["api"] = bench.guard("api", bench.api)
    size = plan.scale_sizes[1]  # the last twentieth through the API
    if "apiscale" in only and bench.affordable("apiscale", 30 + size / 700):
        done["apiScale"] = bench.guard("apiscale", lambda: api_scale.run(
            bench, size, size // 20, 3, API_KEY))
    if "throughput" in only:
        estimate = 25 + plan.ticks / 60 + plan.db_executions / 50
        for number in range(1, plan.runs):
            if not bench.affordable(f"round {number}", estimate):
                break
            run_round(bench, number, done["rounds"])
    return done


def main(argv: list[str] | None = None) -> int:
    args, plan, only = parse_args(argv)
    load_at_start = os.getloadavg()[0]  # other work on the machine skews absolute figures
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    run_dir = RESULTS / stamp
    bench = Bench(plan, run_dir, args.profile)
    old_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.start()
        done = run_sections(bench, plan, only)
    finally:
        bench.close()
        signal.signal(signal.SIGTERM, old_term)
    if args.profile:
        bench.summarize_profiles()

    meta = {"quick": args.quick, "runs": len(done["rounds"]),
            "burstRuns": len(done["burst"]), "machine": machine(),
            "loadAverageAtStart": load_at_start, "loadAverageAtEnd": os.getloadavg()[0],
            "commit": commit(), "seconds": round(bench.elapsed(), 1), "skipped": bench.skipped,
            "failed": bench.failed,
            "plan": asdict(plan), "at": stamp,
            "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])}
    figures = summarize(plan, done["rounds"], done["scale"], done["api"])
    figures["lateness"] = done["lateness"]
    figures["burst"] = burst.summary(done["burst"])
    figures["burstRounds"] = done["burst"]
    figures["apiScale"] = done.get("apiScale")
    text = "\n".join([table(figures, meta), *api_scale.lines(done.get("apiScale"))])
    figures["issue19"] = [asdict(t) for t in report.targets(figures)]
    markdown = report.markdown(figures, meta)
    line = json.dumps({"meta": meta, **figures}, default=str, separators=(",", ":"))
    (run_dir / "table.txt").write_text(text + "\n")
    (run_dir / "results.json").write_text(line + "\n")
    (run_dir / "table.md").write_text(markdown + "\n")
    shutil.copyfile(run_dir / "results.json", RESULTS / "latest.json")
    print(text)
    print()
    print(markdown)
    print()
    print(f"(took {meta['seconds']} s; results in {run_dir.relative_to(ROOT)})")
    print(line)
    return 1 if bench.failed else 0
