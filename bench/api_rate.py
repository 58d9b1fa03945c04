"""The api section: ``POST /api/jobs`` and ``GET /api/jobs?page=1&limit=20`` requests per
second under gunicorn (``deploy/gunicorn.conf.py``), each driven by the closed-loop load
generator (``bench/loadgen.py``) in its own process."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import API_KEY
from bench.procs import ROOT, free_port, python, wait_port
from bench.stats import log, median

if TYPE_CHECKING:
    from bench.harness import Bench


def run(bench: Bench) -> dict[str, Any]:
    plan = bench.plan
    name = "api"
    bench.database(name)
    port = free_port()
    env = bench.service_env(name)
    env["BIND"] = f"127.0.0.1:{port}"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = bench.children.start(
        "gunicorn", [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
        env=env)
    results: dict[str, list[dict[str, Any]]] = {"create": [], "list": []}
    try:
        wait_port(port, server, 60)
        _wait_http(f"http://127.0.0.1:{port}/api/observability/health", 60)
        for mode in ("create", "list"):
            for number in range(plan.api_runs):
                child = bench.children.start(f"loadgen-{mode}{number}", python(
                    "-m", "bench.loadgen", "--port", str(port), "--mode", mode,
                    "--threads", str(plan.api_threads), "--seconds", str(plan.api_seconds),
                    "--key", API_KEY))
                try:
                    results[mode].append(
                        json.loads(child.expect("= ", plan.api_seconds + 90)[2:]))
                finally:
                    bench.children.stop(child, grace_s=5)
    finally:
        bench.children.stop(server, grace_s=30)
    assert bench.client is not None
    stored = bench.client[name]["jobs"].count_documents({})
    bench.drop(name)

    def summary(mode: str) -> dict[str, Any]:
        runs = results[mode]
        return {"rps": median([r["rps"] for r in runs]),
                "p50Ms": median([r["p50Ms"] for r in runs]),
                "p99Ms": median([r["p99Ms"] for r in runs]),
                "errors": sum(r["errors"] for r in runs), "runs": runs}

    result = {"workers": int(env.get("WEB_CONCURRENCY", "2")),
              "threadsPerWorker": int(env.get("GUNICORN_THREADS", "16")),
              "clients": plan.api_threads, "jobsWhenListing": stored,
              "create": summary("create"), "list": summary("list")}
    log(f"API: create {result['create']['rps']} req/s, list {result['list']['rps']} req/s")
    return result


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_KEY}"})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
