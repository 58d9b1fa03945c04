"""gunicorn's server hooks and protective settings: what every gunicorn serving this app
needs, however it was started.

Both gunicorn configuration files take them: ``deploy/gunicorn.conf.py`` (``make run``) and
``gunicorn.conf.py`` at the project root, which gunicorn reads by itself when it is started
from the project directory without ``-c``, as plain ``gunicorn wsgi:app``.

- ``forwarder_headers`` and ``secure_scheme_headers`` empty: by default gunicorn takes
  ``SCRIPT_NAME``, ``PATH_INFO`` and ``X-Forwarded-Proto`` headers from any client on
  127.0.0.1 (a ``SCRIPT_NAME`` that is not a prefix of the path was a 500). The app alone
  decides what to trust, with ``TRUST_PROXY``.

- ``on_starting`` (the master, once, before any fork): make the errors gunicorn answers by
  itself (request line too long, malformed request...) the contract's JSON
  (``gunicorn_errors.py``); check the configuration, so that a bad value stops
  gunicorn with one line before it boots a worker (exit 3); then start the embedded
  database if ``MONGODB_URI`` is unset, so that the workers share one (the master restarts
  it if it dies: ``embedded_db._Watchdog``). Without
  ``SECRET_KEY`` (allowed without ``API_KEYS``), make one for all the workers, so that a
  dashboard form one worker made is accepted by another.
- ``post_worker_init`` (each worker, its app loaded): start the worker's scheduler unless
  ``SCHEDULER_ENABLED=false``.
- ``worker_exit`` (each worker as it exits, after SIGTERM too): ``Runtime.close()``, which
  stops claiming and lets attempts in flight finish within ``SHUTDOWN_GRACE``.
- ``on_exit`` (the master): stop the embedded database it started.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from scheduler_service.errors import ConfigError
from scheduler_service.settings import exit_on_config_error

forwarder_headers = ""
secure_scheme_headers: dict[str, str] = {}


def on_starting(server: Any) -> None:
    from dotenv import load_dotenv

    from scheduler_service.config import Config
    from scheduler_service.gunicorn_errors import install as install_json_errors
    from scheduler_service.logging_setup import configure_logging

    install_json_errors()  # the workers inherit it at fork
    load_dotenv()  # as the workers will: the master must judge the same settings
    try:
        config = Config.from_env()
        if not config.secret_key:  # open mode: one dashboard key for every worker (CSRF)
            os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
        if config.embedded:
            from scheduler_service.embedded_db import ensure_server

            configure_logging(config.log_level, config.log_format)
            ensure_server(config.data_dir, config.embedded_db_port)
    except ConfigError as exc:
        exit_on_config_error(exc)


def post_worker_init(worker: Any) -> None:
    runtime = _runtime_of(worker)
    if runtime is not None and runtime.config.scheduler_enabled:
        runtime.start_scheduler()


def worker_exit(server: Any, worker: Any) -> None:
    runtime = _runtime_of(worker)
    if runtime is not None:
        runtime.close()


def on_exit(server: Any) -> None:
    from scheduler_service.embedded_db import stop_started_servers

    stop_started_servers()


def _runtime_of(worker: Any) -> Any:
    """The worker's runtime; None if its app did not load (a worker that failed to boot)."""
    from scheduler_service.runtime import EXTENSION_KEY

    app = getattr(worker, "wsgi", None)
    extensions = getattr(app, "extensions", None) or {}
    return extensions.get(EXTENSION_KEY)
