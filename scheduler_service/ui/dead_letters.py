"""Dead letters in the dashboard: list (filter by state and job), detail, ``Replay``, bulk
replay, delete. Through ``DeadLetterService`` and the API's schemas, like ``/api``."""

from __future__ import annotations

import math
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from scheduler_service.errors import Conflict, InvalidInput, JobNotFound
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import load_or_raise
from scheduler_service.schemas.dead_letters import (
    STATES,
    BulkReplaySchema,
    DeadLetterQuerySchema,
    DeadLetterResponseSchema,
)
from scheduler_service.services.dead_letter_service import DeadLetterService
from scheduler_service.ui import ui as bp

_dead_letter = DeadLetterResponseSchema()
PAGE_SIZE = 20


def service() -> DeadLetterService:
    return get_runtime().dead_letter_service


def waiting() -> int:
    """Dead letters not replayed (state ``dead``): the overview's figure."""
    return service().counts().get("dead", 0)


@bp.get("/dead-letters")
def dead_letters() -> str | tuple[str, int]:
    args = {key: value for key, value in request.args.items() if value}
    errors: dict[str, Any] = {}
    try:
        query = load_or_raise(DeadLetterQuerySchema(), {**args, "limit": str(PAGE_SIZE)})
    except InvalidInput as exc:  # a bad filter: say so, show the unfiltered first page
        errors = exc.details
        query = {"page": 1, "limit": PAGE_SIZE}
    found, total = service().page(query["page"], PAGE_SIZE, job_id=query.get("jobId"),
                                  state=query.get("state"))  # fmt: skip
    page = render_template(
        "ui/dead_letters.html", title="Dead letters",
        letters=_dead_letter.dump(found, many=True), total=total, page=query["page"],
        total_pages=max(1, math.ceil(total / PAGE_SIZE)), states=STATES,
        state=query.get("state", ""), job_id=query.get("jobId", ""), errors=errors,
    )  # fmt: skip
    return (page, 400) if errors else page


@bp.get("/dead-letters/<dead_letter_id>")
def dead_letter(dead_letter_id: str) -> str:
    shown = _dead_letter.dump(service().get(dead_letter_id))
    return render_template("ui/dead_letter.html", title="Dead letter", letter=shown)


@bp.post("/dead-letters/<dead_letter_id>/replay")
def replay_dead_letter(dead_letter_id: str) -> Response:
    try:
        service().replay(dead_letter_id)
        flash("Replay queued: it runs now, with the same Idempotency-Key.")
    except Conflict as exc:
        flash(exc.message, "error")
    return redirect(url_for("ui.dead_letter", dead_letter_id=dead_letter_id))


@bp.post("/dead-letters/replay")
def replay_dead_letters() -> Response:
    """Bulk replay: the ticked ``ids``, or every replayable one of ``jobId``."""
    ids = request.form.getlist("ids")
    job_id = request.form.get("jobId") or None
    payload: dict[str, Any] = {"ids": ids} if ids else {"jobId": job_id} if job_id else {}
    try:
        body = load_or_raise(BulkReplaySchema(), payload)
        result = service().replay_many(job_id=body.get("jobId"), ids=body.get("ids"))
        flash(f"Replays queued: {result.queued}; skipped (not replayable now): {result.skipped}.")
    except InvalidInput:
        flash("Tick the dead letters to replay first.", "error")
    except (Conflict, JobNotFound) as exc:
        flash(exc.message, "error")
    return redirect(request.referrer if _is_dashboard(request.referrer)
                    else url_for("ui.dead_letters"))  # fmt: skip


@bp.route("/dead-letters/<dead_letter_id>/delete", methods=["GET", "POST"])
def delete_dead_letter(dead_letter_id: str) -> Response | str:
    shown = _dead_letter.dump(service().get(dead_letter_id))
    if request.method == "GET":
        return render_template("ui/dead_letter_delete.html", title="Delete dead letter",
                               letter=shown)  # fmt: skip
    try:
        service().delete(dead_letter_id)
    except Conflict as exc:  # its replay is in flight
        flash(exc.message, "error")
        return redirect(url_for("ui.dead_letter", dead_letter_id=dead_letter_id))
    flash("Dead letter deleted.")
    return redirect(url_for("ui.dead_letters"))


def _is_dashboard(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url + "ui/dead-letters")
