"""Self-hosted HTTP job scheduler: a Flask API and a polling scheduler in one process."""

from __future__ import annotations

import atexit
import logging
from typing import Any

from dotenv import load_dotenv
from flask import Flask
from pymongo.database import Database
from werkzeug.middleware.proxy_fix import ProxyFix

from scheduler_service.clock import Clock, SystemClock
from scheduler_service.config import Config
from scheduler_service.db import connect
from scheduler_service.logging_setup import configure_logging
from scheduler_service.runtime import EXTENSION_KEY, Runtime, compose

__version__ = "0.1.0"

log = logging.getLogger(__name__)


def create_app(
    config: Config | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    start_scheduler: bool | None = None,
) -> Flask:
    """The app factory. Defaults, then the environment and ``.env``, then ``config``.

    ``database`` injects a database (mongomock in unit tests); otherwise the process
    connects here, after any fork. The scheduler starts unless ``SCHEDULER_ENABLED=false``
    or ``start_scheduler=False``.
    """
    if config is None:
        load_dotenv()
        config = Config.from_env()
    configure_logging(config.log_level, config.log_format)
    clock = clock or SystemClock()
    client: Any = None
    if database is None:
        client, database, kind = connect(config)
    else:
        kind = "injected"
    runtime = compose(config, clock, database, client, kind)
    runtime.jobs.ensure_indexes()
    runtime.executions.ensure_indexes(config.execution_retention_days)
    runtime.dead_letters.ensure_indexes(config.dead_letter_retention_days)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    if config.trust_proxy:  # one proxy (nginx) in front: X-Forwarded-* from it only
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    app.extensions[EXTENSION_KEY] = runtime

    from scheduler_service.api import register_api
    from scheduler_service.cli import register_cli

    register_api(app)
    register_cli(app)

    if start_scheduler if start_scheduler is not None else config.scheduler_enabled:
        start_scheduler_for(runtime)
    return app


def start_scheduler_for(runtime: Runtime) -> None:
    scheduler = runtime.new_scheduler()
    runtime.scheduler = scheduler
    scheduler.start()
    atexit.register(scheduler.stop)
