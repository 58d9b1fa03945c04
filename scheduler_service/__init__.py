"""Self-hosted HTTP job scheduler: a Flask API and a polling scheduler in one process."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from scheduler_service.logging_setup import configure_logging
from scheduler_service.runtime import EXTENSION_KEY, Runtime, open_runtime
from scheduler_service.version import __version__ as __version__

log = logging.getLogger(__name__)

__all__ = ["Runtime", "configure_logging", "create_app", "open_runtime"]



def create_app(runtime: Runtime) -> Flask:
    """The Flask app around a process's runtime (``open_runtime()``): routes, hooks and CLI
    commands. It connects nothing and starts nothing: see ``runtime.py`` for who starts the
    scheduler and how every shutdown ends in ``Runtime.close()``."""
    config = runtime.config
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    if config.trust_proxy:  # one proxy (nginx) in front: X-Forwarded-* from it only
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    app.extensions[EXTENSION_KEY] = runtime

    from scheduler_service.api import register_api
    from scheduler_service.cli import register_cli
    from scheduler_service.ui import register_ui

    register_api(app)
    register_ui(app)
    register_cli(app)
    return app
