"""CONTRACT "DELETE /api/jobs/:jobId: the job stops firing at once" and "Disabling or
deleting a job cancels everything of it not yet started", for a tick claimed ahead
(``dispatcher.AHEAD``, 300 ms before its time): its job is looked at once more just before
its time (``scheduler/ahead_check.py``). ``AHEAD`` is widened to 3 s here to land the change
in that window every run (review3: failed before ahead_check, the request arriving after
the change was answered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import iso_utc
from scheduler_service.scheduler import dispatcher as dispatcher_module
from scheduler_service.scheduler import scheduler as scheduler_module
from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job, running_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def the_entry(db: Database, job_id: str) -> dict[str, Any] | None:
    document = db.jobs.find_one({"_id": ObjectId(job_id)})
    return document["inflight"][0] if document and document["inflight"] else None


def at_whole_second(after_s: float) -> datetime:
    when = datetime.now(UTC) + timedelta(seconds=after_s)
    return when.replace(microsecond=0) + timedelta(seconds=1)


@pytest.mark.parametrize("change", ["delete", "disable", "none"])
def test_a_job_deleted_or_disabled_before_its_tick_claimed_ahead_does_not_fire(
    wire_uri: str, wire_db: Database, target: HttpTarget, monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    monkeypatch.setattr(scheduler_module, "AHEAD", timedelta(seconds=3))
    # The last look starts at the hand-off (20 ms before the tick) and counts only if back
    # by the tick's time: 0.5 s here, so that a loaded machine's slow read is no failure.
    monkeypatch.setattr(dispatcher_module, "HANDOFF", timedelta(milliseconds=500))
    with running_service(wire_uri, scheduler_poll_interval_ms=500) as app:
        api = app.test_client()
        run_at = at_whole_second(2.0)
        job = created_job(api, runAt=iso_utc(run_at), endpoint=target.url("/gone"),
                          retryAttempts=0)  # fmt: skip
        wait_until(lambda: the_entry(wire_db, job["jobId"]), 5)  # claimed ahead
        assert datetime.now(UTC) < run_at - timedelta(milliseconds=500)
        if change == "none":  # the look itself lets an unchanged job's tick run
            wait_until(lambda: target.requests_for("/gone"), 10)
            return
        if change == "delete":
            answer = api.delete(f"/api/jobs/{job['jobId']}")
        else:
            answer = api.put(f"/api/jobs/{job['jobId']}", json={"enabled": False})
        assert answer.status_code in (200, 204), answer.get_json()
        changed_at = datetime.now(UTC)
        assert changed_at < run_at
        # Well past its time: nothing may have been sent after the change was answered.
        wait_until(lambda: datetime.now(UTC) > run_at + timedelta(seconds=1.5), 10)
    assert target.requests_for("/gone") == [], f"fired after the {change} was answered"


def next_tick_claimed(db: Database, job_id: str) -> dict[str, Any] | None:
    """The job's entry starting 0.3-0.75 s from now: claimed ahead (``AHEAD`` 0.9 s below)
    and past the pre-claimed judgement made ``AHEAD`` before its time, not yet handed over."""
    document = db.jobs.find_one({"_id": ObjectId(job_id)}) or {}
    now = datetime.now(UTC)
    return next((e for e in document.get("inflight", []) if e.get("startedAt")
                 and now + timedelta(milliseconds=300) < e["startedAt"]
                 < now + timedelta(milliseconds=750)), None)  # fmt: skip


def test_an_every_second_job_disabled_with_its_next_tick_claimed_ahead_stops_at_once(
    wire_uri: str, wire_db: Database, target: HttpTarget, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recurring job disabled after its next tick was claimed ahead and judged, before the
    tick's last look: no request arrives after the disable is answered (fails with
    ``AheadCheck.look`` made a no-op)."""
    monkeypatch.setattr(scheduler_module, "AHEAD", timedelta(milliseconds=900))
    with running_service(wire_uri, scheduler_poll_interval_ms=500) as app:
        api = app.test_client()
        job = created_job(api, schedule="* * * * * *", endpoint=target.url("/every"),
                          retryAttempts=0)  # fmt: skip
        target.wait_for_requests("/every", 1, timeout_s=10)
        wait_until(lambda: next_tick_claimed(wire_db, job["jobId"]), 5)
        answer = api.put(f"/api/jobs/{job['jobId']}", json={"enabled": False})
        assert answer.status_code == 200, answer.get_json()
        changed_at = datetime.now(UTC)
        wait_until(lambda: datetime.now(UTC) > changed_at + timedelta(seconds=2.5), 10)
    late = [r.received_at for r in target.requests_for("/every") if r.received_at > changed_at]
    assert late == [], "fired after the disable was answered"
