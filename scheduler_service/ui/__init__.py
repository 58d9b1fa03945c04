"""The dashboard at ``/ui/``: server-rendered pages over the same services as the API.

Jinja templates in ``templates/ui``, the project's own CSS and JavaScript in ``static``
(no CDN, no build step). ``security.py`` holds the session, CSRF and CSP rules.
"""

from __future__ import annotations

from flask import Blueprint, Flask, url_for
from werkzeug.wrappers import Response

ui = Blueprint(
    "ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static"
)


def register_ui(app: Flask) -> None:
    # The modules below attach their routes, hooks and filters to ``ui`` when imported.
    from scheduler_service.ui import dead_letters, pages, present, views  # noqa: F401
    from scheduler_service.ui.security import install_security

    install_security(app)
    app.register_blueprint(ui)
    app.add_url_rule("/", "ui_root", _to_dashboard)


def _to_dashboard() -> Response:
    """A 302 to the dashboard with an empty body: outside ``/ui/`` the service answers no
    HTML (werkzeug's ``redirect`` writes a small HTML page)."""
    response = Response(status=302, headers={"Location": url_for("ui.overview")})
    del response.headers["Content-Type"]
    return response
