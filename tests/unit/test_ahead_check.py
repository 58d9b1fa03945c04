"""The last look at a tick claimed ahead (``scheduler/ahead_check.py``): the verdict on the
job as it reads just before the tick's time, and a worker never waiting past that time."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import mongomock
from bson import ObjectId

from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.ahead_check import AheadCheck, JobLook, Verdict, judge
from scheduler_service.scheduler.claims import Claim

TICK = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
SEEN = datetime(2026, 11, 29, 11, 0, 0, tzinfo=UTC)


def claimed() -> Claim:
    entry = Entry.scheduled(TICK, owner="p1", now=TICK, lease=timedelta(seconds=30))
    job = Job(id=ObjectId(), schedule="* * * * * *", endpoint="http://127.0.0.1/x",
              updated_at=SEEN, inflight=(entry,))  # fmt: skip
    return Claim(job, entry, following=TICK + timedelta(seconds=1))


def look(job: Job, **changes: object) -> JobLook:
    return replace(JobLook.from_document(job.to_document() | {"_id": job.id}), **changes)


def test_a_job_unchanged_since_its_claim_runs_even_if_the_claim_disabled_it() -> None:
    claim = claimed()
    assert judge(claim, look(claim.job)) is Verdict.RUN
    assert judge(claim, look(claim.job, enabled=False)) is Verdict.RUN  # a one-off


def test_a_deleted_job_or_a_lost_entry_is_gone() -> None:
    claim = claimed()
    assert judge(claim, None) is Verdict.GONE
    assert judge(claim, look(claim.job, entries=frozenset())) is Verdict.GONE
    taken = frozenset({(claim.entry.id, "p2")})
    assert judge(claim, look(claim.job, entries=taken)) is Verdict.GONE


def test_a_job_disabled_since_is_released_and_one_changed_otherwise_runs() -> None:
    claim = claimed()
    later = SEEN + timedelta(seconds=5)
    assert judge(claim, look(claim.job, updated_at=later, enabled=False)) is Verdict.RELEASE
    assert judge(claim, look(claim.job, updated_at=later)) is Verdict.RUN


def test_the_verdict_reads_the_job_and_a_release_pulls_the_entry() -> None:
    collection = mongomock.MongoClient().db.jobs
    claim = claimed()
    collection.insert_one({"_id": claim.job.id, "enabled": False,
                           "updatedAt": SEEN + timedelta(seconds=1),
                           "inflight": [claim.entry.to_document()]})  # fmt: skip
    dropped: list[tuple[ObjectId, ObjectId, str]] = []
    check = AheadCheck(collection, lambda *args: dropped.append(args))
    check.look([claim])
    assert check.verdict(claim, time.monotonic() + 5) is Verdict.RELEASE
    assert dropped == [(claim.job.id, claim.entry.id, "p1")]
    assert check.verdict(claim, time.monotonic() + 5) is Verdict.RUN  # asked once: no look
    check.shutdown()


def test_a_look_not_back_by_the_ticks_time_lets_it_run_without_waiting_longer() -> None:
    release = threading.Event()

    class SlowCollection:
        def find(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
            release.wait(5)
            return []  # the job deleted: too late to matter

    claim = claimed()
    check = AheadCheck(SlowCollection(), lambda *args: None)  # type: ignore[arg-type]
    check.look([claim])
    started = time.monotonic()
    assert check.verdict(claim, started + 0.05) is Verdict.RUN
    assert time.monotonic() - started < 4  # waited for its time, not for the read
    release.set()
    check.shutdown()


def test_no_read_is_made_once_the_last_of_the_ticks_times_has_passed() -> None:
    class CountingCollection:
        reads = 0

        def find(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
            CountingCollection.reads += 1
            return []

    claim = claimed()
    check = AheadCheck(CountingCollection(), lambda *args: None)  # type: ignore[arg-type]
    check.look([claim], now=TICK + timedelta(seconds=1))  # its time passed a second ago
    assert check.verdict(claim, time.monotonic() + 1) is Verdict.RUN
    check.look([claim], now=TICK - timedelta(seconds=1))
    assert check.verdict(claim, time.monotonic() + 1) is Verdict.GONE  # read: none found
    assert CountingCollection.reads == 1
    check.shutdown()

