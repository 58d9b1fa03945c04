"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (what `make run` does).

No ``preload_app``: each worker builds its own app and MongoClient after fork (pymongo is
not fork-safe). Every worker runs a scheduler thread, started by the ``post_worker_init``
hook; the claim protocol makes sure each tick fires once. With MONGODB_URI unset the master
starts the embedded database once, before forking, and the workers reuse it. The lifecycle
hooks are ``scheduler_service/gunicorn_hooks.py``, which the project root's
``gunicorn.conf.py`` gives plain ``gunicorn wsgi:app`` too.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from dotenv import load_dotenv

load_dotenv()

from scheduler_service.config import ServerConfig  # noqa: E402
from scheduler_service.errors import ConfigError  # noqa: E402
from scheduler_service.settings import exit_on_config_error  # noqa: E402

try:
    _server = ServerConfig.from_env()
except ConfigError as _exc:
    exit_on_config_error(_exc)

# Loopback unless BIND says otherwise: gunicorn is reached through nginx (deploy/nginx.conf),
# never directly from an untrusted network. A gthread worker reads each request in one of its
# threads, with no deadline once the first bytes arrived (it defers only connections that
# send nothing for 5 s), and no setting here bounds that: a few clients that send half a
# request and stop hold every thread. nginx reads whole requests before passing them on.
bind = _server.address
workers = _server.workers
worker_class = "gthread"
threads = _server.threads
timeout = 30
# SIGTERM: the worker's scheduler stops claiming and lets attempts finish (SHUTDOWN_GRACE).
graceful_timeout = _server.graceful_timeout_s
keepalive = 5
# No gunicorn access log: the app logs one line per request itself (LOG_FORMAT applies).
accesslog = None
if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    # gunicorn's own lines as JSON too; the root logger is left to the app's handler.
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"],
                               "propagate": False, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "formatters": {"generic": {"()": "scheduler_service.logging_setup.JsonFormatter"}},
    }  # fmt: skip
preload_app = False
# What every gunicorn serving this app needs, from gunicorn_hooks (the project root's
# gunicorn.conf.py, for plain `gunicorn wsgi:app`, takes the same): no forwarding header
# trusted (the app alone decides, with TRUST_PROXY), and on_starting makes the errors
# gunicorn answers by itself JSON.
from scheduler_service import gunicorn_hooks as _hooks  # noqa: E402

forwarder_headers = _hooks.forwarder_headers
secure_scheme_headers = _hooks.secure_scheme_headers


def on_starting(server: object) -> None:
    """The metrics directory, then the configuration check and the embedded database."""
    prepare_metrics_dir()
    _hooks.on_starting(server)


def on_exit(server: object) -> None:
    _hooks.on_exit(server)
    for path in _created_metrics_dirs:
        shutil.rmtree(path, ignore_errors=True)


# Metrics: prometheus_client multiprocess mode, so that /metrics adds up all the workers.
_created_metrics_dirs: list[str] = []
_METRICS_PREFIX = "scheduler-metrics-"


def prepare_metrics_dir() -> None:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory before any worker forks (and
    before anything imports prometheus_client): the one given, emptied of an earlier run's
    files, or a fresh one removed at exit."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        _remove_orphaned_metrics_dirs()
        path = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-")
        _created_metrics_dirs.append(path)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def _remove_orphaned_metrics_dirs() -> None:
    """Directories made by masters that died without cleaning up (SIGKILL) and are gone."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        pid = name[len(_METRICS_PREFIX) :].split("-", 1)[0]
        if not (name.startswith(_METRICS_PREFIX) and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass  # alive (someone else's): leave it


def child_exit(server: object, worker: object) -> None:
    """A worker died: drop its live gauges (running jobs); its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(getattr(worker, "pid", 0))


# Each worker starts its scheduler once its app is loaded, and closes its runtime as it
# exits (after SIGTERM: stop claiming, let attempts finish within SHUTDOWN_GRACE).
post_worker_init = _hooks.post_worker_init
worker_exit = _hooks.worker_exit
