"""The dashboard's security: API-key login kept in a signed session cookie, CSRF tokens on
every state-changing form (Flask-WTF), and a Content-Security-Policy on every page.

With ``API_KEYS`` unset the dashboard is open, like the API (whose start-up warning says
so). The session keeps no key, only an HMAC of it under ``SECRET_KEY``, so a key removed
from ``API_KEYS`` ends the sessions opened with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from scheduler_service.api.auth import key_matches
from scheduler_service.runtime import get_runtime
from scheduler_service.ui import ui as bp

# A browser session lasts at most this long, then the key is asked again.
SESSION_MAX_AGE_S = 12 * 3600
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
UNGUARDED = frozenset({"ui.login", "ui.static"})


class SessionOverHttps(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the request came over HTTPS (directly, or
    through the trusted proxy's ``X-Forwarded-Proto`` with ``TRUST_PROXY``). Outside the
    dashboard no session is opened (Flask's null session, read as empty): its cookie's
    path is ``/ui/``, so no other request carries it, and opening and saving one cost
    every API request a signer and its checks (measured: about 2% of a create's CPU)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(ui_prefix()):
            return None  # Flask's null session
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def ui_prefix() -> str:
    return bp.url_prefix or "/"


def install_security(app: Flask) -> None:
    config = get_runtime(app).config
    # Open mode without SECRET_KEY: a key for this process (gunicorn's master sets one for
    # all its workers, so that a form made by one worker is accepted by another).
    app.secret_key = config.secret_key or secrets.token_urlsafe(32)
    app.session_interface = SessionOverHttps()
    app.config.update(
        SESSION_COOKIE_NAME="scheduler_ui",
        SESSION_COOKIE_PATH="/ui/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session that holds it
    )


@bp.app_template_global("csrf_token")
def csrf_token() -> str:
    return generate_csrf()


@bp.app_template_global("login_required")
def login_required() -> bool:
    return bool(get_runtime().config.api_keys)


def key_fingerprint(key: str) -> str:
    secret = current_app.secret_key
    assert isinstance(secret, str)
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def logged_in() -> bool:
    keys = get_runtime().config.api_keys
    if not keys:
        return True
    fingerprint, since = session.get("key"), session.get("since", 0)
    if not isinstance(fingerprint, str) or time.time() - float(since) > SESSION_MAX_AGE_S:
        return False
    return any(hmac.compare_digest(fingerprint, key_fingerprint(key)) for key in keys)


@bp.before_request
def require_login() -> Response | None:
    if request.endpoint in UNGUARDED or logged_in():
        return None
    if request.method == "GET":
        return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("ui.login"))


@bp.before_request
def check_csrf() -> tuple[str, int] | None:
    """Every POST carries the session's CSRF token (the login form too: no login CSRF)."""
    if request.method != "POST" or request.endpoint == "ui.static":
        return None
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError) as exc:
        message = f"The form was refused: {exc}. Reload the page and try again."
        return render_template("ui/error.html", title="Form refused", message=message), 400
    return None


@bp.after_request
def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect."""
    if target and target.startswith("/ui/") and not urlsplit(target).netloc:
        return target
    return url_for("ui.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    keys = get_runtime().config.api_keys
    if not keys:
        return redirect(url_for("ui.overview"))
    error = None
    if request.method == "POST":
        presented = (request.form.get("api_key") or "").strip()
        if presented and key_matches(presented, keys):
            target = safe_next(request.form.get("next"))
            session.clear()  # a fresh session (and CSRF token) after login
            session["key"] = key_fingerprint(presented)
            session["since"] = time.time()
            return redirect(target)
        error = "That key is not one of this service's API keys."
    status = 401 if error else 200
    page = render_template(
        "ui/login.html", title="Log in", error=error, next=request.values.get("next", "")
    )
    return page, status


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    flash("You are logged out.")
    target = "ui.login" if get_runtime().config.api_keys else "ui.overview"
    return redirect(url_for(target))
