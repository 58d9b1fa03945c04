"""Held releases (``scheduler/releases.py``): a settled tick waits for the job's next claim
only while one is expected, within its hold, and every held one is released in the end."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from scheduler_service.scheduler.releases import Releases
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=60)
HOLD = timedelta(seconds=1)


class FakeTicks:
    def __init__(self) -> None:
        self.dropped: list[list[tuple[ObjectId, ObjectId]]] = []
        self.fail = False

    def drop_entries(self, entries: list[tuple[ObjectId, ObjectId]], owner: str) -> None:
        assert owner == "me"
        if self.fail:
            raise AutoReconnect("down")
        self.dropped.append(sorted(entries))


@pytest.fixture
def ticks() -> FakeTicks:
    return FakeTicks()


@pytest.fixture
def releases(ticks: FakeTicks) -> Releases:
    return Releases(ticks, "me", LEASE, HOLD)  # type: ignore[arg-type]


def test_a_settled_entry_is_held_only_when_its_jobs_next_claim_is_expected(
    releases: Releases,
) -> None:
    job, entry = ObjectId(), ObjectId()
    assert not releases.defer(job, entry, T0)  # nothing expected: release it now
    releases.expect(job, (entry,), T0 + timedelta(seconds=1))
    assert not releases.defer(job, ObjectId(), T0)  # another entry of the job
    assert releases.defer(job, entry, T0)
    assert releases.held() == 1


def test_the_next_claim_takes_the_held_entry_only_if_the_job_holds_exactly_it(
    releases: Releases,
) -> None:
    job, entry = ObjectId(), ObjectId()
    releases.expect(job, (entry,), T0 + timedelta(seconds=1))
    assert releases.defer(job, entry, T0)
    assert releases.take(job, (entry, ObjectId())) == ()  # another tick in flight too
    assert releases.take(job, (entry,)) == (entry,)
    assert releases.held() == 0
    assert releases.take(job, (entry,)) == ()  # taken once


def test_a_claim_before_the_attempt_settled_ends_the_expectation(releases: Releases) -> None:
    job, entry = ObjectId(), ObjectId()
    releases.expect(job, (entry,), T0 + timedelta(seconds=1))
    assert releases.take(job, (entry,)) == ()  # still running: the claim pushes
    assert not releases.defer(job, entry, T0)  # so its release is written at once


def test_a_held_entry_is_released_when_its_hold_ends_and_a_lost_claim_gives_it_back(
    releases: Releases, ticks: FakeTicks,
) -> None:
    a, b, entry = ObjectId(), ObjectId(), ObjectId()
    for job in (a, b):
        releases.expect(job, (entry,), T0 + timedelta(seconds=1))
        assert releases.defer(job, entry, T0)
    assert releases.flush(T0 + timedelta(seconds=1)) == 0  # within the hold
    assert releases.take(a, (entry,)) == (entry,)
    releases.back(a, (entry,), T0 + timedelta(seconds=1))  # that claim lost
    assert releases.flush(T0 + timedelta(seconds=1)) == 1
    assert ticks.dropped == [[(a, entry)]]
    assert releases.flush(T0 + timedelta(seconds=2)) == 1  # b: its hold ended
    assert ticks.dropped[-1] == [(b, entry)]


def test_a_hold_never_outlasts_a_quarter_lease_after_the_attempt_ended(
    releases: Releases, ticks: FakeTicks,
) -> None:
    job, entry = ObjectId(), ObjectId()
    releases.expect(job, (entry,), T0 + timedelta(hours=1))
    assert releases.defer(job, entry, T0)
    assert releases.flush(T0 + LEASE / 4) == 1


def test_a_process_that_claims_late_holds_twice_as_long_and_back_to_the_hold_once_it_is_not(
    releases: Releases,
) -> None:
    a, b, c, entry = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    releases.note_lateness(timedelta(seconds=-0.15), T0)  # claimed ahead: the hold (1 s)
    releases.expect(a, (entry,), T0 + timedelta(seconds=1))
    releases.note_lateness(timedelta(seconds=3), T0)  # behind: 6 s
    releases.expect(b, (entry,), T0 + timedelta(seconds=1))
    releases.note_lateness(timedelta(0), T0 + 10 * HOLD)  # caught up: halved ten times
    releases.expect(c, (entry,), T0 + 11 * HOLD)
    for job in (a, b, c):
        assert releases.defer(job, entry, T0)
    assert releases.flush(T0 + timedelta(seconds=2)) == 1  # a
    assert releases.flush(T0 + timedelta(seconds=6.9)) == 0
    assert releases.flush(T0 + timedelta(seconds=7)) == 1  # b
    assert releases.flush(T0 + 12 * HOLD - timedelta(seconds=0.01)) == 0
    assert releases.flush(T0 + 12 * HOLD) == 1  # c: the hold again


def test_lateness_counts_up_to_the_cap_so_a_tick_hours_late_stretches_holds_for_seconds(
    releases: Releases,
) -> None:
    job, entry = ObjectId(), ObjectId()
    releases.note_lateness(timedelta(hours=1), T0)  # a job back after downtime: as the cap
    releases.note_lateness(timedelta(0), T0 + 5 * HOLD)  # 2 x 15 s halved five times: 0.94 s
    releases.expect(job, (entry,), T0 + 6 * HOLD)
    assert releases.defer(job, entry, T0 + 5 * HOLD)
    assert releases.flush(T0 + 7 * HOLD) == 1  # the hold again


def test_a_failed_flush_keeps_them_and_close_releases_everything_then_holds_nothing(
    releases: Releases, ticks: FakeTicks,
) -> None:
    job, entry = ObjectId(), ObjectId()
    releases.expect(job, (entry,), T0 + timedelta(seconds=1))
    assert releases.defer(job, entry, T0)
    ticks.fail = True
    assert releases.close() == 0
    assert releases.held() == 1
    ticks.fail = False
    assert releases.flush() == 1
    releases.expect(job, (entry,), T0 + timedelta(seconds=1))
    assert not releases.defer(job, entry, T0)  # closed: released at once


def test_the_thread_releases_a_held_entry_once_its_hold_ends(ticks: FakeTicks) -> None:
    releases = Releases(ticks, "me", LEASE, timedelta(milliseconds=50))  # type: ignore[arg-type]
    stopping = threading.Event()
    thread = threading.Thread(target=releases.run, args=(lambda: datetime.now(UTC), stopping))
    thread.start()
    try:
        job, entry = ObjectId(), ObjectId()
        releases.expect(job, (entry,), datetime.now(UTC))
        assert releases.defer(job, entry, datetime.now(UTC))
        wait_until(lambda: ticks.dropped == [[(job, entry)]], 5)
    finally:
        stopping.set()
        thread.join(5)
    assert not thread.is_alive()


def test_ticks_claimed_together_are_held_until_both_settled_and_taken_together(
    releases: Releases, ticks: FakeTicks,
) -> None:
    """A tick and the one claimed with it (``pre_claims.py``): both settled, the next claim
    replaces both, in the job's order; one still running, it replaces none, and the settled
    one is released when its hold ends."""
    job, first, second = ObjectId(), ObjectId(), ObjectId()
    releases.expect(job, (first, second), T0 + timedelta(seconds=2))
    assert releases.defer(job, first, T0)
    assert releases.holds(job, first) and not releases.holds(job, second)
    assert releases.take(job, (first, second)) == ()  # the second still runs
    assert not releases.defer(job, second, T0)  # that claim ended the expectation
    assert releases.flush(T0 + LEASE) == 1
    assert ticks.dropped == [[(job, first)]]

    releases.expect(job, (first, second), T0 + timedelta(seconds=2))
    assert releases.defer(job, second, T0)
    assert releases.defer(job, first, T0 + timedelta(seconds=1))
    assert not releases.defer(job, ObjectId(), T0)  # nothing more expected
    assert releases.take(job, (second, first)) == (second, first)  # the order seen
    assert releases.held() == 0
