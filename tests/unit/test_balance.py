"""How a process that owns more than its share of the due jobs hands some over
(``scheduler/balance.py``), with a fixed clock: the plan from the owners' counts, what a poll
learns from the due jobs, and the hand-overs it then makes, until the next poll."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.records import Job
from scheduler_service.scheduler.balance import MEMORY, Balance, plan
from tests.conftest import START

POLL_MS = 1000  # a job half an interval (500 ms) past its time is overdue


def due_jobs(owners: dict[str | None, int], due_in_ms: int = 800) -> list[Job]:
    """As a poll reads them: ``count`` due jobs claimed last by each owner."""
    return [Job(ObjectId(), "* * * * * *", "http://127.0.0.1:9/x",
                next_run_at=START + timedelta(milliseconds=due_in_ms), claimed_by=owner)
            for owner, count in owners.items() for _ in range(count)]  # fmt: skip


def owned_by(jobs: list[Job], owners: dict[str, int]) -> list[Job]:
    """The same jobs, the first ``count`` claimed last by each owner, in turn."""
    names = [owner for owner, count in owners.items() for _ in range(count)]
    return [replace(job, claimed_by=owner) for job, owner in zip(jobs, names, strict=True)]


def hand_overs(balance: Balance) -> list[str]:
    made = []
    while (to := balance.hand_over()) is not None:
        made.append(to)
    return made


def test_the_first_seconds_split_evens_out_in_the_plan() -> None:
    # The split measured before this (28 / 70-76 / 97-102 ticks a second, 200 jobs).
    # b, 5 over its share (66.7), by more than the slack (5 %): it hands over too.
    assert plan({"a": 28, "b": 72, "c": 100}) == {("b", "a"): 5, ("c", "a"): 33}
    # Two over their share feed the one under it, in name order, without overfilling it.
    assert plan({"a": 90, "b": 80, "c": 30}) == {("a", "c"): 23, ("b", "c"): 13}
    # Two under it: the one over fills them in name order.
    assert plan({"a": 10, "b": 20, "c": 120}) == {("c", "a"): 40, ("c", "b"): 30}


def test_a_split_within_the_slack_is_left_alone() -> None:
    assert plan({"a": 69, "b": 67, "c": 64}) == {}  # 66.7 each: 69 is within 5 %
    assert plan({"a": 5, "b": 3}) == {}  # within MIN_SLACK jobs
    assert plan({"a": 200}) == {}  # one process: nobody to hand over to
    assert plan({}) == {}


def test_nothing_is_handed_to_a_process_that_is_behind() -> None:
    assert plan({"a": 100, "b": 20, "c": 80}, behind={"b"}) == {}
    assert plan({"a": 100, "b": 20, "c": 30}, behind={"b"}) == {("a", "c"): 20}


def test_a_poll_plans_this_processs_hand_overs_and_the_claims_make_them(
    clock: FixedClock,
) -> None:
    balance = Balance("c", POLL_MS)
    balance.observe(due_jobs({"a": 28, "b": 72, "c": 100, None: 5}), clock.now())
    assert hand_overs(balance) == ["a"] * 33, "the excess, once, to the one under its share"
    assert balance.hand_over() is None


def test_each_process_makes_its_own_part_of_the_plan(clock: FixedClock) -> None:
    made = {}
    for owner in ("a", "b", "c"):
        balance = Balance(owner, POLL_MS)
        balance.observe(due_jobs({"a": 28, "b": 72, "c": 100}), clock.now())
        made[owner] = hand_overs(balance)
    assert made == {"a": [], "b": ["a"] * 5, "c": ["a"] * 33}


def test_the_next_poll_replans_from_what_the_hand_overs_left(clock: FixedClock) -> None:
    jobs = due_jobs({"a": 28, "b": 72, "c": 100})
    balance = Balance("c", POLL_MS)
    balance.observe(jobs, clock.now())
    assert [balance.hand_over() for _ in range(20)] == ["a"] * 20  # 20 claimed this second
    jobs = owned_by(jobs, {"a": 48, "b": 72, "c": 80})  # those 20 are a's now
    clock.advance(seconds=1)
    balance.observe(jobs, clock.now())
    assert hand_overs(balance) == ["a"] * 13, "the rest, not 33 again"
    jobs = owned_by(jobs, {"a": 61, "b": 72, "c": 67})
    clock.advance(seconds=1)
    balance.observe(jobs, clock.now())
    assert balance.hand_over() is None, "even now: nothing left to hand over"


def test_a_job_claimed_past_the_look_ahead_still_counts_for_its_owner(
    clock: FixedClock,
) -> None:
    """A job claimed in a pair just before a poll has its next tick two ticks away, past the
    look-ahead: that poll does not read it. Its owner's share is not the smaller for it."""
    jobs = due_jobs({"a": 67, "b": 67, "c": 66})
    balance = Balance("b", POLL_MS)
    balance.observe(jobs, clock.now())
    clock.advance(seconds=1)
    balance.observe(jobs[34:], clock.now())  # half of a's jobs claimed just before
    assert balance.hand_over() is None, "a's jobs still count as a's: a is not under"
    clock.advance(seconds=MEMORY * POLL_MS / 1000)
    balance.observe(jobs[67:], clock.now())  # a's jobs not seen due since: a is gone
    assert balance.hand_over() is None, "and nothing is handed to it"


def test_overdue_jobs_count_for_nobody_and_their_owner_is_behind(clock: FixedClock) -> None:
    """A process that stopped (or fell half an interval behind) leaves overdue jobs: they
    are taken over, not counted, and nothing is handed to it."""
    balance = Balance("c", POLL_MS)
    late = due_jobs({"b": 3}, due_in_ms=-600)
    balance.observe(due_jobs({"a": 10, "b": 10, "c": 40}) + late, clock.now())
    assert hand_overs(balance) == ["a"] * 10, "a's gap only, none to b"
    balance = Balance("c", POLL_MS)
    gone = due_jobs({"b": 40}, due_in_ms=-600)  # b stopped: all its jobs overdue
    balance.observe(due_jobs({"a": 10, "c": 10}) + gone, clock.now())
    assert balance.hand_over() is None, "b is not among the processes sharing the jobs"


def test_unclaimed_jobs_are_nobodys_share(clock: FixedClock) -> None:
    balance = Balance("c", POLL_MS)
    balance.observe(due_jobs({None: 100, "a": 10, "c": 10}), clock.now())
    assert balance.hand_over() is None


def test_nothing_is_handed_to_a_process_that_stopped_and_released_its_jobs(
    clock: FixedClock,
) -> None:
    """review3 (failed before ``Balance`` remembered stopped processes): a process stopped
    with SIGTERM sets ``claimedBy: None`` on the jobs it had queued
    (``Scheduler._release_jobs``); its jobs claimed in a pair just before (next tick past
    the look-ahead) still read as its own for up to ``MEMORY`` intervals. The others then
    counted it as alive and under its share, and handed jobs over to it in their pair
    claims: each such job's next tick waited until half an interval overdue."""
    jobs = due_jobs({"a": 67, "b": 67, "c": 67})
    balance = Balance("a", POLL_MS)
    balance.observe(jobs, clock.now())
    assert balance.hand_over() is None
    clock.advance(seconds=1)
    # c stopped: the 34 jobs it had queued were released; its other 33 were pair-claimed
    # just before and are not read by this poll.
    released = [replace(job, claimed_by=None) for job in jobs[134:168]]
    balance.observe(jobs[:134] + released, clock.now())
    assert hand_overs(balance) == [], "jobs handed over to a process that has stopped"
