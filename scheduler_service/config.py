"""Every setting, read once from the environment (and ``.env``), validated, immutable.

A bad value raises ``ConfigError`` whose message is one line naming the variable; the
entry points turn it into that line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any

from scheduler_service.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    port: int = 3000
    mongodb_uri: str | None = None  # unset: start the embedded database
    data_dir: str = "./data"
    embedded_db_port: int = 27018
    scheduler_enabled: bool = True
    scheduler_poll_interval_ms: int = 1000
    max_concurrent_jobs: int = 10
    job_retry_attempts: int = 3
    job_retry_delay_ms: int = 5000
    job_timeout_ms: int = 30000
    job_lease_timeout_ms: int = 60000
    response_body_limit: int = 4096
    max_request_bytes: int = 1024 * 1024
    # Behind a reverse proxy (deploy/nginx.conf): trust one hop of X-Forwarded-For/Proto/Host.
    trust_proxy: bool = False
    db_timeout_ms: int = 4000
    shutdown_grace_ms: int = 20000
    execution_retention_days: int = 30  # 0 keeps the history forever
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    # Bearer keys that may call the API (several, for rotation); none: the API is open.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # Fernet keys for header values at rest; the first encrypts, all decrypt (rotation).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # API requests per key or client address (limits' syntax); "" (RATE_LIMIT=off): none.
    rate_limit: str = "600 per minute"
    # Where the counters live: memory:// per process; mongodb://... shared by all.
    rate_limit_storage_uri: str = field(default="memory://", repr=False)
    # Let jobs target loopback, private and reserved addresses (metadata/link-local: never).
    allow_private_targets: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then the environment, then keyword overrides (for tests and the CLI)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (variable, parse) in _VARIABLES.items():
            raw = env.get(variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError as exc:
                shown = "<hidden>" if variable in _SECRET_VARIABLES else repr(raw)
                raise ConfigError(f"{variable}: {exc} (got {shown})") from None
        values.update(overrides)
        config = cls(**values)
        config.check()
        return config

    def with_overrides(self, **overrides: Any) -> Config:
        config = replace(self, **overrides)
        config.check()
        return config

    def check(self) -> None:
        """Range checks, named by environment variable."""
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                variable = _VARIABLES[name][0]
                raise ConfigError(f"{variable}: must be between {low} and {high} (got {value})")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"LOG_LEVEL: must be DEBUG, INFO, WARNING or ERROR (got {self.log_level})"
            )
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT: must be text or json (got {self.log_format})")
        if self.mongodb_uri is not None and not self.mongodb_uri.startswith(
            ("mongodb://", "mongodb+srv://")
        ):
            raise ConfigError("MONGODB_URI: must start with mongodb:// or mongodb+srv://")

    @property
    def embedded(self) -> bool:
        return self.mongodb_uri is None

    @property
    def misfire_grace(self) -> timedelta:
        """How late a tick may start and still run as scheduled (two poll intervals);
        later ones were missed and ``missedRunPolicy`` decides (``scheduler/planning.py``)."""
        return timedelta(milliseconds=2 * self.scheduler_poll_interval_ms)


def _int(raw: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be true or false")


def _str(raw: str) -> str:
    return raw


MIN_API_KEY_LENGTH = 16


def _fernet_keys(raw: str) -> tuple[str, ...]:
    from scheduler_service.crypto import check_key

    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    for key in keys:
        check_key(key)
    return keys


def _keys(raw: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if any(len(key) < MIN_API_KEY_LENGTH for key in keys):
        raise ValueError(f"each key must be at least {MIN_API_KEY_LENGTH} characters")
    if any(not key.isprintable() or " " in key for key in keys):
        raise ValueError("keys must be printable and contain no spaces")
    return keys


def _log_format(raw: str) -> str:
    if raw.lower() not in ("text", "json"):
        raise ValueError("must be text or json")
    return raw.lower()


_LIMIT_OFF = {"off", "none", "false", "0"}


def _rate_limit(raw: str) -> str:
    """``600 per minute``, ``10/second; 600/minute``...; ``off`` disables (empty string)."""
    if raw.lower() in _LIMIT_OFF:
        return ""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ValueError("must be like '600 per minute' or '10/second; 600/minute'") from None
    return raw


# Storages the installed packages can use (redis and memcached need their client packages).
_LIMIT_STORAGES = ("memory://", "mongodb://", "mongodb+srv://", "redis://", "rediss://",
                   "redis+sentinel://", "redis+cluster://", "memcached://")


def _limit_storage(raw: str) -> str:
    if not raw.startswith(_LIMIT_STORAGES):
        raise ValueError("must start with memory://, mongodb://, mongodb+srv:// or redis://")
    return raw


_VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "port": ("PORT", _int),
    "mongodb_uri": ("MONGODB_URI", _str),
    "data_dir": ("DATA_DIR", _str),
    "embedded_db_port": ("EMBEDDED_DB_PORT", _int),
    "scheduler_enabled": ("SCHEDULER_ENABLED", _bool),
    "scheduler_poll_interval_ms": ("SCHEDULER_POLL_INTERVAL", _int),
    "max_concurrent_jobs": ("MAX_CONCURRENT_JOBS", _int),
    "job_retry_attempts": ("JOB_RETRY_ATTEMPTS", _int),
    "job_retry_delay_ms": ("JOB_RETRY_DELAY", _int),
    "job_timeout_ms": ("JOB_TIMEOUT", _int),
    "job_lease_timeout_ms": ("JOB_LEASE_TIMEOUT", _int),
    "response_body_limit": ("RESPONSE_BODY_LIMIT", _int),
    "max_request_bytes": ("MAX_REQUEST_BYTES", _int),
    "trust_proxy": ("TRUST_PROXY", _bool),
    "db_timeout_ms": ("DB_TIMEOUT", _int),
    "shutdown_grace_ms": ("SHUTDOWN_GRACE", _int),
    "execution_retention_days": ("EXECUTION_RETENTION_DAYS", _int),
    "log_level": ("LOG_LEVEL", _str),
    "log_format": ("LOG_FORMAT", _log_format),
    "api_keys": ("API_KEYS", _keys),
    "encryption_keys": ("ENCRYPTION_KEY", _fernet_keys),
    "rate_limit": ("RATE_LIMIT", _rate_limit),
    "rate_limit_storage_uri": ("RATE_LIMIT_STORAGE_URI", _limit_storage),
    "allow_private_targets": ("ALLOW_PRIVATE_TARGETS", _bool),
}

_SECRET_VARIABLES = {"API_KEYS", "ENCRYPTION_KEY", "RATE_LIMIT_STORAGE_URI"}

_RANGES: list[tuple[str, int, int]] = [
    ("port", 1, 65535),
    ("embedded_db_port", 1, 65535),
    ("scheduler_poll_interval_ms", 50, 60_000),
    ("max_concurrent_jobs", 1, 1000),
    ("job_retry_attempts", 0, 10),
    ("job_retry_delay_ms", 0, 3_600_000),
    ("job_timeout_ms", 100, 3_600_000),
    ("job_lease_timeout_ms", 1000, 3_600_000),
    ("response_body_limit", 0, 1024 * 1024),
    ("max_request_bytes", 1024, 64 * 1024 * 1024),
    ("db_timeout_ms", 100, 60_000),
    ("shutdown_grace_ms", 0, 600_000),
    ("execution_retention_days", 0, 36_500),
]

assert {f.name for f in fields(Config)} == set(_VARIABLES), "every setting has a variable"
