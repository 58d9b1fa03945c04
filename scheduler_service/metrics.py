"""Prometheus metrics: every definition lives here; the rest of the code makes one-line calls.

``GET /metrics`` serves them in the Prometheus text format. Under gunicorn every worker is
its own process with its own counters, so when ``PROMETHEUS_MULTIPROC_DIR`` is set (the
gunicorn config sets it) prometheus_client's multiprocess mode is used: each process writes
its values to files in that directory and ``/metrics``, whichever worker answers, adds up
the files of all of them. The variable must be set before ``prometheus_client`` is first
imported (the value class is chosen at import), which is why the gunicorn master sets it
before it forks and before anything imports this module.

``/metrics`` needs no API key (it is outside ``/api``): restrict it at the proxy (README).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable
from datetime import datetime

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# prometheus_client picks its value class when first imported; if that happened before the
# variable was set (in a parent process, say), pick again so the metrics below use files.
if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
    values.ValueClass = values.get_value_class()
METRICS_PATH = "/metrics"

# Start lag: the goal is 50 ms at p99, so the buckets are fine below 100 ms.
LAG_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
DATABASE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

EXECUTIONS = Counter(
    "scheduler_executions", "Attempts this service finished, by outcome.", ["status"]
)
ATTEMPT_DURATION = Histogram(
    "scheduler_attempt_duration_seconds",
    "Duration of one attempt: connect, send and the whole response.",
    buckets=ATTEMPT_BUCKETS,
)
START_LAG = Histogram(
    "scheduler_start_lag_seconds",
    "How late an attempt started: startedAt - scheduledAt for a tick's first attempt "
    '(kind="tick"), claim time - due time for a retry (kind="retry").',
    ["kind"],
    buckets=LAG_BUCKETS,
)
RUNNING_JOBS = Gauge(
    "scheduler_running_jobs",
    "Attempts running now (summed over the live processes).",
    multiprocess_mode="livesum",
)
CLOCK_OFFSET = Gauge(
    "scheduler_clock_offset_seconds",
    "The database server's clock minus this process's wall clock, as last measured "
    "(leases, claims and timers use the database's time).",
    multiprocess_mode="liveall",
)
CLOCK_SKEWED = Gauge(
    "scheduler_clock_skewed",
    "1 while a live process's clock is further than MAX_CLOCK_SKEW from the database's.",
    multiprocess_mode="livemax",
)
POLL_DURATION = Histogram(
    "scheduler_poll_duration_seconds",
    "Duration of one poll of the database for due ticks (with lease renewal).",
    buckets=DATABASE_BUCKETS,
)
CLAIM_CONFLICTS = Counter(
    "scheduler_claim_conflicts",
    "Claims (compare-and-set writes) that lost: another process took the tick, or the job "
    "changed since it was polled.",
)
SKIPPED_TICKS = Counter(
    "scheduler_skipped_ticks",
    "Ticks not run: the previous tick still ran (reason=overlap), missedRunPolicy "
    "skipped them (reason=missed), or a chained run found its job full (reason=chain_full).",
    ["reason"],
)
DATABASE_ERRORS = Counter(
    "scheduler_database_errors",
    "Database errors met by the scheduler's poller and runner.",
    ["component"],
)
DEAD_LETTERS = Counter(
    "scheduler_dead_letters",
    "Ticks dead-lettered, by outcome: retries_exhausted (the last allowed attempt failed), "
    "not_retried (a failure never retried: 4xx, refused target...), abandoned (an "
    "AT_MOST_ONCE attempt whose process died).",
    ["outcome"],
)
REPLAYS = Counter(
    "scheduler_dead_letter_replays",
    "Replays of dead letters that ended, by outcome: replayed or replay_failed.",
    ["outcome"],
)
CHAINED_RUNS = Counter(
    "scheduler_chained_runs",
    "Runs of onSuccess/onFailure jobs queued by the end of a parent's tick (a trigger "
    "applied again is not counted).",
)
ALERTS = Counter(
    "scheduler_alerts",
    "tick.dead_lettered alerts, by outcome: sent, or undeliverable (every try failed).",
    ["outcome"],
)
HTTP_REQUESTS = Counter(
    "scheduler_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "scheduler_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=DATABASE_BUCKETS,
)

# Label values known in advance are exported at 0 from the start, so rates work at once.
for _status in ("success", "failure"):
    EXECUTIONS.labels(status=_status)
for _kind in ("tick", "retry"):
    START_LAG.labels(kind=_kind)
for _reason in ("overlap", "missed", "chain_full"):
    SKIPPED_TICKS.labels(reason=_reason)
for _component in ("poller", "runner"):
    DATABASE_ERRORS.labels(component=_component)
for _outcome in ("retries_exhausted", "not_retried", "abandoned"):
    DEAD_LETTERS.labels(outcome=_outcome)
for _outcome in ("replayed", "replay_failed"):
    REPLAYS.labels(outcome=_outcome)
for _outcome in ("sent", "undeliverable"):
    ALERTS.labels(outcome=_outcome)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "_metrics_started"


# -- one-line calls from the scheduler -----------------------------------------------------


def record_attempt(status: str, duration_ms: float) -> None:
    EXECUTIONS.labels(status=status).inc()
    ATTEMPT_DURATION.observe(max(duration_ms, 0) / 1000)


def record_start_lag(kind: str, started: datetime, due: datetime) -> None:
    START_LAG.labels(kind=kind).observe(max((started - due).total_seconds(), 0.0))


def record_skipped(reason: str, count: int = 1) -> None:
    if count > 0:
        SKIPPED_TICKS.labels(reason=reason).inc(count)


def record_database_error(component: str) -> None:
    DATABASE_ERRORS.labels(component=component).inc()


def record_dead_letter(outcome: str) -> None:
    DEAD_LETTERS.labels(outcome=outcome).inc()


def record_replay(outcome: str) -> None:
    REPLAYS.labels(outcome=outcome).inc()


def record_chained(count: int) -> None:
    CHAINED_RUNS.inc(count)


def record_alert(outcome: str) -> None:
    ALERTS.labels(outcome=outcome).inc()


# -- HTTP ----------------------------------------------------------------------------------


def install_metrics(app: Flask) -> None:
    """Count and time every request, and serve ``GET /metrics``."""
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.add_url_rule(METRICS_PATH, "metrics", metrics_view, methods=["GET"])


def _start_timer() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _count_request(response: Response) -> Response:
    started = g.get(_STARTED)
    method = request.method if request.method in _METHODS else "OTHER"
    # The route template, never the raw path: ids and junk paths would make new series.
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    if started is not None:
        HTTP_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)
    return response


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


# A process's file starts empty and gets its first 64 KiB (header zeroed) just after: the
# header (4-byte used size, 4 bytes of padding) is what a reader needs first.
_HEADER_BYTES = 8


class _SettledFilesCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's multiprocess collector, minus the files of a process that is
    creating them at this instant.

    ``MmapedDict`` creates its file empty, then extends it; prometheus_client reads every
    ``*.db`` file it globbed and fails (``struct.error``) on one still empty. A scrape that
    met a worker starting (gunicorn replacing a dead one, or booting under load) was a 500.
    Such a file holds no value yet, so leaving it out loses nothing. Files only grow, so
    one seen with a header is whole enough to read.
    """

    def collect(self) -> Iterable[object]:
        return self.merge(_readable_files(self._path), accumulate=True)


def _readable_files(path: str) -> list[str]:
    readable = []
    for name in glob.glob(os.path.join(path, "*.db")):
        try:
            if os.path.getsize(name) >= _HEADER_BYTES:
                readable.append(name)
        except FileNotFoundError:
            continue  # a dead process's live gauge, removed since the glob
    return readable


def render() -> bytes:
    """The current metrics in the Prometheus text format (all processes' in multiprocess mode)."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        _SettledFilesCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_view() -> Response:
    return Response(render(), content_type=CONTENT_TYPE_LATEST)
