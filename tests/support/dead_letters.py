"""Dead letters written straight into a store, for API and CLI tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.dead_letter import (
    Alert,
    DeadLetter,
    DeadLetterReason,
    LastAttempt,
    SentRequest,
)
from scheduler_service.stores.dead_letters import DeadLetterStore
from tests.conftest import START


def add_dead_letter(
    database: Database, job_id: ObjectId, scheduled_at: datetime, *, attempts: int = 3,
    created_at: datetime | None = None,
) -> DeadLetter:  # fmt: skip
    """A tick of ``job_id`` that failed for good after ``attempts`` attempts of HTTP 500."""
    now = created_at or scheduled_at + timedelta(seconds=10)
    last = LastAttempt("failure", attempts, 500, "HTTP 500 Internal Server Error", "boom",
                       now - timedelta(seconds=1), now)  # fmt: skip
    request = SentRequest("POST", "https://api.example.com/hook",
                          {"Authorization": "Bearer ***", "Idempotency-Key": "k"}, {"a": 1})
    dead_letter = DeadLetter.new(
        job_id=job_id, name="nightly", scheduled_at=scheduled_at, idempotency_key="k",
        last_attempt=last, request=request, reason=DeadLetterReason.RETRIES_EXHAUSTED,
        now=now, alert=Alert(),
    )  # fmt: skip
    assert DeadLetterStore(database).add(dead_letter)
    return dead_letter


def dead(database: Database, job_id: str, minutes: int = 0) -> str:
    """The id of a dead letter of ``job_id``'s tick an hour before the tests' clock starts
    (``minutes`` later: newer), as the API and the dashboard show it."""
    tick = START - timedelta(hours=1) + timedelta(minutes=minutes)
    return str(add_dead_letter(database, ObjectId(job_id), tick).id)
