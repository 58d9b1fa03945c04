"""Every setting, declared once: its variable, type, default, bounds and meaning.

``Config`` holds the app's settings (``create_app``, the scheduler, the CLI);
``ServerConfig`` gunicorn's, read by ``deploy/gunicorn.conf.py``. Read once from the
environment (and ``.env``), validated, immutable (``settings.py``): a bad value stops
start-up with one line naming the variable. The job schemas and the rate limiter take their
bounds and words from here; a unit test keeps ``.env.example`` and the README's table in
step with these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from scheduler_service import settings as read
from scheduler_service.errors import ConfigError
from scheduler_service.settings import RATE_LIMIT_OFF, Settings, setting


@dataclass(frozen=True)
class Config(Settings):
    """The app's settings (``create_app``, the scheduler, the CLI)."""

    # fmt: off
    mongodb_uri: str | None = setting(
        "MONGODB_URI", None, read.mongodb_uri, "MongoDB to use; unset: the embedded server",
        secret=True)
    data_dir: str = setting("DATA_DIR", "./data", read.text, "where the embedded server keeps data")
    embedded_db_port: int = setting(
        "EMBEDDED_DB_PORT", 27018, read.integer, "port of the embedded server on 127.0.0.1",
        bounds=(1, 65535))
    scheduler_enabled: bool = setting(
        "SCHEDULER_ENABLED", True, read.boolean, "false: an API-only process")
    scheduler_poll_interval_ms: int = setting(
        "SCHEDULER_POLL_INTERVAL", 1000, read.integer, "ms between polls of the database",
        bounds=(50, 60_000))
    max_concurrent_jobs: int = setting(
        "MAX_CONCURRENT_JOBS", 10, read.integer, "worker threads per process: attempts at once",
        bounds=(1, 1000))
    job_retry_attempts: int = setting(
        "JOB_RETRY_ATTEMPTS", 3, read.integer, "default retryAttempts of new jobs (bounds too)",
        bounds=(0, 10))
    job_retry_delay_ms: int = setting(
        "JOB_RETRY_DELAY", 5000, read.integer, "default retryDelay of new jobs, ms (bounds too)",
        bounds=(0, 3_600_000))
    job_retry_delay_max_ms: int = setting(
        "JOB_RETRY_DELAY_MAX", 3_600_000, read.integer, "longest wait before a retry, ms",
        bounds=(1000, 86_400_000))
    job_timeout_ms: int = setting(
        "JOB_TIMEOUT", 30000, read.integer, "total deadline of one attempt, ms",
        bounds=(100, 3_600_000))
    job_lease_timeout_ms: int = setting(
        "JOB_LEASE_TIMEOUT", 60000, read.integer, "ms a dead process's claim blocks a tick",
        bounds=(1000, 3_600_000))
    max_clock_skew_ms: int = setting(
        "MAX_CLOCK_SKEW", 1000, read.integer,
        "ms this machine's clock may differ from the database's before it is reported",
        bounds=(10, 3_600_000))
    db_write_concern: str = setting(
        "DB_WRITE_CONCERN", "auto", read.write_concern,
        "auto (majority on a replica set, else 1), majority, journaled or 1")
    response_body_limit: int = setting(
        "RESPONSE_BODY_LIMIT", 4096, read.integer, "bytes of each response body kept",
        bounds=(0, 1024 * 1024))
    max_request_bytes: int = setting(
        "MAX_REQUEST_BYTES", 1024 * 1024, read.integer, "largest API request body (413 above it)",
        bounds=(1024, 64 * 1024 * 1024))
    trust_proxy: bool = setting(
        "TRUST_PROXY", False, read.boolean, "trust one proxy hop's X-Forwarded-For/-Proto/-Host")
    db_timeout_ms: int = setting(
        "DB_TIMEOUT", 4000, read.integer, "ms deadline of database work (operation, API request)",
        bounds=(100, 60_000))
    shutdown_grace_ms: int = setting(
        "SHUTDOWN_GRACE", 20000, read.integer, "ms attempts in flight may take after SIGTERM",
        bounds=(0, 600_000))
    execution_retention_days: int = setting(
        "EXECUTION_RETENTION_DAYS", 30, read.integer, "days of execution history kept; 0: all",
        bounds=(0, 36_500))
    log_level: str = setting("LOG_LEVEL", "INFO", read.log_level, "DEBUG, INFO, WARNING or ERROR")
    log_format: str = setting(
        "LOG_FORMAT", "text", read.log_format, "text, or json: one JSON object per line")
    api_keys: tuple[str, ...] = setting(
        "API_KEYS", (), read.api_keys, "bearer keys that may call the API; none: it is open",
        secret=True)
    encryption_keys: tuple[str, ...] = setting(
        "ENCRYPTION_KEY", (), read.fernet_keys, "Fernet keys for header values at rest",
        secret=True)
    rate_limit: str = setting(
        "RATE_LIMIT", "600 per minute", read.rate_limit,
        "API requests per key or client address; off: no limit")
    rate_limit_storage_uri: str = setting(
        "RATE_LIMIT_STORAGE_URI", "memory://", read.limit_storage, "where rate counters live",
        secret=True)
    allow_private_targets: bool = setting(
        "ALLOW_PRIVATE_TARGETS", False, read.boolean, "let jobs target private addresses")
    dead_letter_retention_days: int = setting(
        "DEAD_LETTER_RETENTION_DAYS", 30, read.integer, "days dead letters are kept; 0: all",
        bounds=(0, 36_500))
    secret_key: str | None = setting(
        "SECRET_KEY", None, read.secret_key,
        "signs the dashboard's sessions and CSRF tokens; required with API_KEYS", secret=True)
    # Secret: a webhook URL often carries its token (Slack's incoming webhooks do).
    alert_webhook_url: str | None = setting(
        "ALERT_WEBHOOK_URL", None, read.http_url, "where every dead letter is announced",
        secret=True)
    webhook_signing_keys: tuple[str, ...] = setting(
        "WEBHOOK_SIGNING_KEYS", (), read.signing_keys,
        "whsec_ secrets (comma-separated) that sign every request; all sign, first first",
        secret=True)
    # fmt: on

    def check(self) -> None:
        super().check()
        if self.api_keys and not self.secret_key:
            raise ConfigError(
                "SECRET_KEY: must be set when API_KEYS is set (it signs the dashboard's sessions)"
            )

    @property
    def embedded(self) -> bool:
        return self.mongodb_uri is None

    @property
    def rate_limited(self) -> bool:
        """False when ``RATE_LIMIT`` is off (one of ``RATE_LIMIT_OFF``, or empty)."""
        return self.rate_limit.strip().lower() not in ("", *RATE_LIMIT_OFF)

    @property
    def misfire_grace(self) -> timedelta:
        """How late a tick may start and still run as scheduled (two poll intervals);
        later ones were missed and ``missedRunPolicy`` decides (``scheduler/planning.py``)."""
        return timedelta(milliseconds=2 * self.scheduler_poll_interval_ms)


@dataclass(frozen=True)
class ServerConfig(Settings):
    """gunicorn's settings, read by ``deploy/gunicorn.conf.py``."""

    # fmt: off
    port: int = setting(
        "PORT", 3000, read.integer, "HTTP port: gunicorn binds 127.0.0.1:$PORT",
        bounds=(1, 65535))
    bind: str | None = setting("BIND", None, read.text, "the whole address to bind; beats PORT")
    workers: int = setting(
        "WEB_CONCURRENCY", 2, read.integer, "gunicorn worker processes", bounds=(1, 256))
    threads: int = setting(
        "GUNICORN_THREADS", 16, read.integer, "threads per gunicorn worker", bounds=(1, 256))
    graceful_timeout_s: int = setting(
        "GUNICORN_GRACEFUL_TIMEOUT", 30, read.integer, "s a worker has to stop after SIGTERM",
        bounds=(0, 3600))
    # fmt: on

    @property
    def address(self) -> str:
        """Loopback unless BIND says otherwise: gunicorn is reached through nginx, never
        directly from an untrusted network (README, Deployment)."""
        return self.bind or f"127.0.0.1:{self.port}"


def variables() -> set[str]:
    """Every environment variable read through these declarations."""
    return {spec.variable for table in (Config, ServerConfig) for _, spec in table.settings()}
