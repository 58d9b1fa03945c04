"""Alerts do not wait behind each other: one endpoint that hangs holds one sender, and
another job's alert still goes out; the in-memory queue is bounded and an alert that finds
it full stays pending for the take-over. Real wire server, real targets on 127.0.0.1."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.dead_letter import DeadLetter
from scheduler_service.scheduler import alerts
from scheduler_service.scheduler.alerts import AlertSender
from scheduler_service.stores.dead_letters import DeadLetterStore
from tests.support.dead_letters import add_dead_letter
from tests.support.http_target import HttpTarget
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

def pending(database: Database, sender: AlertSender, targets: tuple[str, ...]) -> DeadLetter:
    """A dead letter whose alert ``sender`` holds, as settlement writes it."""
    written = add_dead_letter(database, ObjectId(), sender.clock.now())
    alert = sender.new_alert(targets, sender.clock.now())
    database["dead_letters"].update_one({"_id": written.id}, {"$set": {
        "alert.state": alert.state.value, "alert.owner": alert.owner,
        "alert.until": alert.until}})  # fmt: skip
    return DeadLetterStore(database).get(written.id)  # type: ignore[return-value]


def alert_state(database: Database, dead_letter: DeadLetter) -> str:
    return str(database["dead_letters"].find_one({"_id": dead_letter.id})["alert"]["state"])


def test_a_hanging_endpoint_does_not_hold_back_another_jobs_alert(
    wire_db: Database, target: HttpTarget
) -> None:
    target.hang("/stuck", 120)
    config = Config(job_timeout_ms=60_000, allow_private_targets=True)
    sender = AlertSender(DeadLetterStore(wire_db), config, FixedClock(_now()), "me")
    stuck_url = target.url("/stuck")
    try:
        # More alerts for the broken endpoint than there are senders (a job failing often).
        stuck = [pending(wire_db, sender, (stuck_url,)) for _ in range(alerts.ALERT_SENDERS + 2)]
        for dead_letter in stuck:
            assert sender.submit(dead_letter, (stuck_url,))
        target.wait_for_requests("/stuck", 1, timeout_s=15)
        working = pending(wire_db, sender, (target.url("/works"),))
        assert sender.submit(working, (target.url("/works"),))
        # Before, it waited 3 x 60 s behind each stuck alert: far past this bound.
        received = target.wait_for_requests("/works", 1, timeout_s=30)[0]
        assert received.json()["deadLetter"]["deadLetterId"] == str(working.id)
        wait_until(lambda: alert_state(wire_db, working) == "sent", timeout_s=15,
                   message="the working alert recorded as sent")
        assert len(target.requests_for("/stuck")) == 1  # one sender at a time per endpoint
        assert all(alert_state(wire_db, d) == "pending" for d in stuck)
    finally:
        target.stop()  # cuts the hangs short
        sender.close()


def test_a_full_queue_leaves_the_alert_pending_for_the_take_over(
    wire_db: Database, target: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "ALERT_QUEUE_LIMIT", 2)
    release = threading.Event()

    class HeldSession:  # every sender blocks until released, so the queue fills
        def request(self, *args: Any, **kwargs: Any) -> Any:
            release.wait(30)
            raise ConnectionError("held")

        def close(self) -> None: ...

    clock = FixedClock(_now())
    config = Config(job_timeout_ms=1000, allow_private_targets=True)
    held = AlertSender(DeadLetterStore(wire_db), config, clock, "held",
                       session_factory=HeldSession)  # fmt: skip
    urls = [target.url(f"/hook-{n}") for n in range(4)]
    try:
        letters = [pending(wire_db, held, (url,)) for url in urls]
        accepted = [held.submit(d, (url,)) for d, url in zip(letters, urls, strict=True)]
        assert accepted == [True, True, False, False]  # two held in memory, no more
        refused = letters[2:]
        assert all(alert_state(wire_db, d) == "pending" for d in refused)
    finally:
        release.set()
        held.close()
    # Another process (or this one) takes them over once their lease has run out.
    clock.advance(seconds=held.lease.total_seconds() + 1)
    taker = AlertSender(DeadLetterStore(wire_db), config, clock, "taker")
    try:
        assert taker.sweep(lambda ids: []) >= len(refused)  # no job: the sweep has none
        # With no job and no ALERT_WEBHOOK_URL they have nowhere to go: undeliverable,
        # which proves the take-over reached them.
        assert all(alert_state(wire_db, d) == "undeliverable" for d in refused)
    finally:
        taker.close()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
