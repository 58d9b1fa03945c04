"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (what `make run` does).

No ``preload_app``: each worker builds its own app and MongoClient after fork (pymongo is
not fork-safe). Every worker runs a scheduler thread; the claim protocol makes sure each
tick fires once. With MONGODB_URI unset the master starts the embedded database once,
before forking, and the workers reuse it.
"""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv

load_dotenv()

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '3000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
# SIGTERM: the worker's scheduler stops claiming and lets attempts finish (SHUTDOWN_GRACE).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-"
preload_app = False


def on_starting(server: object) -> None:
    """Check the configuration once, then start the embedded database if it is the default."""
    from scheduler_service.config import Config
    from scheduler_service.errors import ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(2)
    if config.embedded:
        from scheduler_service import configure_logging
        from scheduler_service.embedded_db import ensure_server

        configure_logging(config.log_level)
        ensure_server(config.data_dir, config.embedded_db_port)


def on_exit(server: object) -> None:
    from scheduler_service.embedded_db import stop_started_servers

    stop_started_servers()


def worker_exit(server: object, worker: object) -> None:
    """SIGTERM reached this worker: stop its scheduler gracefully (SHUTDOWN_GRACE)."""
    from scheduler_service.runtime import get_runtime

    app = getattr(worker, "wsgi", None)
    if app is None:
        return
    scheduler = get_runtime(app).scheduler
    if scheduler is not None:
        scheduler.stop()
