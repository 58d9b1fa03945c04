"""The HTTP API: blueprints, the database deadline, size checks and the one error mapper."""

from __future__ import annotations

from flask import Flask

from scheduler_service.api.auth import install_auth
from scheduler_service.api.body import reject_oversize
from scheduler_service.api.deadline import install_deadline
from scheduler_service.api.errors import register_error_handlers
from scheduler_service.api.jobs import jobs_api
from scheduler_service.api.observability import observability_api


def register_api(app: Flask) -> None:
    install_auth(app)
    install_deadline(app)
    app.before_request(reject_oversize)
    app.register_blueprint(jobs_api)
    app.register_blueprint(observability_api)
    register_error_handlers(app)
