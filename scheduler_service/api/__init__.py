"""The HTTP API: blueprints, the database deadline, size checks and the one error mapper."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import NotFound

from scheduler_service.api.auth import install_auth
from scheduler_service.api.body import reject_oversize
from scheduler_service.api.dead_letters import dead_letters_api
from scheduler_service.api.deadline import install_deadline
from scheduler_service.api.errors import register_error_handlers
from scheduler_service.api.jobs import jobs_api
from scheduler_service.api.observability import observability_api
from scheduler_service.api.openapi import openapi_api
from scheduler_service.api.ratelimit import install_rate_limit
from scheduler_service.api.schedules import schedules_api
from scheduler_service.logging_setup import install_access_log


def register_api(app: Flask) -> None:
    # Imported here, in the worker: the gunicorn master imports this package before it sets
    # PROMETHEUS_MULTIPROC_DIR, and prometheus_client must first be imported after that.
    from scheduler_service.metrics import install_metrics

    install_access_log(app)  # first: requests refused by the hooks below are logged too
    install_metrics(app)  # counts and times every request; serves GET /metrics (no key)
    install_rate_limit(app)  # before auth (guessing keys is limited too); own storage timeout
    install_deadline(app)
    # A doubled slash is a 404 like any unknown path, not Werkzeug's HTML redirect page.
    app.url_map.merge_slashes = False
    app.before_request(refuse_doubled_slashes)
    install_auth(app)
    app.before_request(reject_oversize)
    app.register_blueprint(jobs_api)
    app.register_blueprint(observability_api)
    app.register_blueprint(dead_letters_api)
    app.register_blueprint(schedules_api)
    app.register_blueprint(openapi_api)
    register_error_handlers(app)


def refuse_doubled_slashes() -> None:
    """``merge_slashes = False`` keeps ``/api//jobs`` from matching, but Werkzeug strips
    leading slashes before it matches, so ``//api/jobs`` would answer as ``/api/jobs``."""
    if "//" in request.environ.get("PATH_INFO", ""):
        raise NotFound()
