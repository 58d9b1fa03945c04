"""A tick claimed ahead has its request built before its time (``Executor.prepare``): the
same request as one built when it is sent, signed for the time it is sent."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.records import Entry, ExecutionRecord, Job
from scheduler_service.scheduler.affinity import Affinity
from scheduler_service.scheduler.catch_up import CatchUp
from scheduler_service.scheduler.claimer import Claim, Claims
from scheduler_service.scheduler.dispatcher import AHEAD, READY_MARGIN, Dispatcher
from scheduler_service.scheduler.executor import Executor
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.timer_queue import Candidate, TimerQueue
from tests.support.waiting import wait_until

NOW = datetime(2024, 1, 1, 12, 0, 0, 950_000, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def executor(clock: FixedClock) -> Executor:
    return Executor(None, None, Config(), clock, "owner", None,  # type: ignore[arg-type]
                    threading.Event(), None, None)  # type: ignore[arg-type]  # no stores


def claim_at(job: Job, started_at: datetime, now: datetime) -> Claim:
    entry = Entry.scheduled(started_at, owner="owner", now=now, lease=timedelta(seconds=60))
    return Claim(job, replace(entry, started_at=started_at))


def test_a_tick_claimed_ahead_is_signed_for_its_time_not_for_when_it_was_made_ready() -> None:
    clock = FixedClock(NOW)
    job = Job(ObjectId(), "* * * * * *", "http://127.0.0.1/x", body={"at": "{{timestamp}}"},
              signing_secret=SECRET)
    due = NOW + timedelta(milliseconds=50)  # the next whole second: 12:00:01
    ready = executor(clock).prepare(claim_at(job, due, NOW))
    assert ready is not None and ready.first is not None
    assert ready.request.signing is not None and ready.request.signing.timestamp == due
    assert ready.request.body == {"at": "2024-01-01T12:00:01.000Z"}
    assert ready.first.request.headers["webhook-timestamp"] == str(int(due.timestamp()))


def test_a_tick_made_ready_at_its_time_is_the_request_built_then() -> None:
    clock = FixedClock(NOW)
    job = Job(ObjectId(), "* * * * * *", "http://127.0.0.1/x", method="PUT",
              headers={"X-Custom": "yes"}, body=[1], signing_secret=SECRET)
    claim = claim_at(job, NOW, NOW)
    ready = executor(clock).prepare(claim)
    assert ready is not None
    assert ready.request == executor(clock)._request(job, claim.entry)


def test_nothing_is_made_ready_for_a_settled_orphan_or_unreadable_headers() -> None:
    clock = FixedClock(NOW)
    job = Job(ObjectId(), "* * * * * *", "http://127.0.0.1/x")
    claim = claim_at(job, NOW, NOW)
    record = ExecutionRecord.ended(job.id, claim.entry, NOW, success=True, completed_at=NOW,
                                   duration=1, response_code=200, response_body="",
                                   error_message=None)  # fmt: skip
    assert executor(clock).prepare(replace(claim, recorded=record)) is None
    sealed = HeaderCipher(("a" * 43 + "=",)).seal({"Authorization": "secret"})
    unreadable = Job(ObjectId(), "* * * * * *", "http://127.0.0.1/x", headers=sealed)
    assert executor(clock).prepare(claim_at(unreadable, NOW, NOW)) is None  # no ENCRYPTION_KEY


class ClaimsAhead:
    """A claimer that wins every candidate as a claim ahead: started (and leased) at its
    time, as ``Claimer`` does for a tick taken out before it."""

    def claim(self, candidates: list[Candidate]) -> Claims:
        won = []
        for candidate in candidates:
            entry = Entry.scheduled(candidate.due, owner="owner", now=candidate.due,
                                    lease=timedelta(seconds=60))  # fmt: skip
            won.append((candidate, Claim(candidate.job, entry)))
        return Claims(won=won)


class Recording:
    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, datetime, object]] = []

    def prepare(self, claim: Claim) -> str:
        self.calls.append(("prepare", self.clock.now(), None))
        return "ready"

    def execute(self, claim: Claim, ready: object = None, answered: object = None) -> None:
        self.calls.append(("execute", self.clock.now(), ready))


def test_the_dispatcher_makes_a_tick_claimed_ahead_ready_before_its_time_only() -> None:
    clock = FixedClock(NOW)
    queue = TimerQueue(clock.now, ahead=AHEAD)
    executor = Recording(clock)
    stopping = threading.Event()
    dispatcher = Dispatcher(
        queue, ClaimsAhead(), executor, CatchUp(RunningAttempts(), timedelta(seconds=5)),  # type: ignore[arg-type]
        Affinity("owner", 1000), clock, workers=2, lookahead=timedelta(0), stopping=stopping,
    )  # fmt: skip
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        due = NOW + AHEAD  # taken out now, claimed ahead: made ready, then waits for its time
        queue.push(due, "ahead", Job(ObjectId(), "* * * * * *", "http://127.0.0.1:9/x"))
        wait_until(lambda: executor.calls, message="the tick made ready")
        assert executor.calls == [("prepare", NOW, None)]
        clock.set(due)  # the worker waits AHEAD of real time
        wait_until(lambda: len(executor.calls) == 2, message="the tick started")
        assert (executor.calls[1][0], executor.calls[1][2]) == ("execute", "ready")
        # A tick claimed at (or after) its time is built when it starts: nothing ahead.
        queue.push(due, "now", Job(ObjectId(), "* * * * * *", "http://127.0.0.1:9/x"))
        wait_until(lambda: len(executor.calls) == 3, message="the due tick started")
        assert executor.calls[2] == ("execute", due, None)
        # Claimed ahead, but with less than READY_MARGIN left: sent at its time, unprepared.
        soon = due + READY_MARGIN - timedelta(milliseconds=1)
        queue.push(soon, "soon", Job(ObjectId(), "* * * * * *", "http://127.0.0.1:9/x"))
        wait_until(lambda: len(executor.calls) == 4, message="the tick due soon started")
        assert (executor.calls[3][0], executor.calls[3][2]) == ("execute", None)
    finally:
        stopping.set()
        queue.close()
        thread.join(5)
        dispatcher.shutdown()
