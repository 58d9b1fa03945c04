"""The pages that change things: new job, edit job, pause, resume, run now, delete.

Each posts a form (with its CSRF token, checked in ``security.py``) and calls the same
``JobService`` method as the API; the API's validation messages come back next to the
fields they name.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from scheduler_service.errors import Conflict, InvalidInput
from scheduler_service.ui import data, forms, present
from scheduler_service.ui import ui as bp


def flatten(details: dict) -> dict[str, list[str]]:
    """The API's error details by field, nested messages (a header's value) as one list."""

    def messages(value: object) -> list[str]:
        if isinstance(value, dict):
            return [f"{key}: {text}" for key, inner in value.items() for text in messages(inner)]
        if isinstance(value, list):
            return [text for item in value for text in messages(item)]
        return [str(value)]

    return {str(field): messages(value) for field, value in details.items()}


def render_form(
    job: dict | None, values: dict[str, str], errors: dict[str, list[str]], status: int = 200
) -> tuple[str, int]:
    title = f"Edit {present.job_title(job)}" if job else "New job"
    shown = {field.key for field in forms.form_fields()}
    page = render_template(
        "ui/form.html",
        title=title,
        job=job,
        fields=forms.form_fields(),
        methods=forms.methods(),
        values=values,
        errors=errors,
        placeholders=forms.placeholders(),
        general=[text for key, texts in errors.items() if key not in shown for text in texts],
    )
    return page, status


@bp.route("/jobs/new", methods=["GET", "POST"])
def new_job() -> Response | tuple[str, int]:
    if request.method == "GET":
        return render_form(None, {"method": "POST"}, {})
    values = {key: request.form.get(key, "") for key in request.form}
    try:
        created = data.service().create(forms.payload_from(request.form))
    except InvalidInput as exc:
        return render_form(None, values, flatten(exc.details or {"_schema": [exc.message]}), 400)
    job_id = str(created["_id"])
    flash("Job created.")
    return redirect(url_for("ui.job", job_id=job_id))


@bp.route("/jobs/<job_id>/edit", methods=["GET", "POST"])
def edit_job(job_id: str) -> Response | tuple[str, int]:
    shown = data.job(job_id)
    if request.method == "GET":
        return render_form(shown, forms.values_of(shown), {})
    values = {key: request.form.get(key, "") for key in request.form}
    try:
        changes = forms.payload_from(request.form, shown)
        if "headers" in changes:
            stored = data.stored_job(job_id).get("headers") or {}
            changes["headers"] = forms.keep_masked_secrets(changes["headers"], stored)
        if changes:
            data.service().update(job_id, changes)
    except InvalidInput as exc:
        return render_form(shown, values, flatten(exc.details or {"_schema": [exc.message]}), 400)
    flash("Saved." if changes else "Nothing changed.")
    return redirect(url_for("ui.job", job_id=job_id))


@bp.post("/jobs/<job_id>/pause")
def pause_job(job_id: str) -> Response:
    data.service().update(job_id, {"enabled": False})
    flash("Paused: the job does not fire until it is resumed.")
    return redirect(url_for("ui.job", job_id=job_id))


@bp.post("/jobs/<job_id>/resume")
def resume_job(job_id: str) -> Response:
    data.service().update(job_id, {"enabled": True})
    flash("Resumed.")
    return redirect(url_for("ui.job", job_id=job_id))


@bp.post("/jobs/<job_id>/run")
def run_job(job_id: str) -> Response:
    try:
        data.service().run_now(job_id)
        flash("Run queued: it starts at once and shows under Executions.")
    except Conflict as exc:  # too many manual runs queued already
        flash(exc.message, "error")
    return redirect(url_for("ui.job", job_id=job_id))


@bp.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
def delete_job(job_id: str) -> Response | str:
    shown = data.job(job_id)
    if request.method == "GET":
        return render_template(
            "ui/delete.html", title=f"Delete {present.job_title(shown)}", job=shown
        )
    data.service().delete(job_id)
    flash(f"Deleted {present.job_title(shown)}.")
    return redirect(url_for("ui.jobs"))
