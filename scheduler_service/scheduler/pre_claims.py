"""Ticks claimed with the one before: a frequent job's next tick rides on its claim's write.

Each claim of a scheduled tick is a document write, and on SecantusDB every write of a job
rewrites all of its index entries. So when a tick is claimed ahead of its time (this
process keeps up) and the job's next tick starts soon after it (within
``Claimer.pre_claim_within``: the look-ahead, and an eighth of the lease), the claim takes
both (``TICKS_PER_CLAIM``): it pushes a second running entry of this process, started and
leased from that tick's own time (for ``PRE_CLAIM_LEASE`` at most), and advances
``nextRunAt`` to the tick after it. The next claim of the job, a follow-up, then replaces
both settled entries (``releases.py``): an every-second job costs one job write per two
executions, plus their two records.

A pre-claimed tick waits in the timer queue like any other (``Candidate.pre_claimed``),
holding no worker, and is registered with the ticks claimed ahead (a stopping process gives
it back, ``dispatcher.unclaim_ahead``). When it is taken out (``dispatcher.AHEAD`` before its
time), one read of its jobs (``judge``) decides, job by job:

- the job is gone, or our entry is (given back, taken over): nothing to do;
- the job was changed since the claim (``updatedAt``) and is disabled, or its next tick
  moved (a new schedule or window): the entry is released (one write), the tick not run;
- it is taken out more than half its lease late (this process fell behind): it is given
  back (one write), a waiting entry that any process claims and runs, so that its lease
  never runs out before a late attempt could renew it;
- ``FORBID`` and another tick of the job is in flight (not a settled one held here): the
  tick waits for our own attempt that started late (``catch_up.py``), else is skipped as
  the overlap rule would have skipped it (one write: entry pulled, ``skippedTicks``);
- else it runs, with the job as read (a change of its request applies).

A process that dies holding a pre-claimed tick leaves its entry to others once its lease
ends, as any claim ahead (re-delivered as attempt 2 after an ``abandoned`` attempt 1). Until
then that entry is in flight for the overlap rule: the take-over of a ``FORBID`` job skips
its ticks (``claimer.py``) for at most ``PRE_CLAIM_LEASE``, where a process killed between
two single claims left nothing in flight.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import datetime, timedelta

from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.planning import TickPlan, plan_tick
from scheduler_service.scheduling import start_of

TICKS_PER_CLAIM = 2  # the tick claimed, and the ones after it claimed in the same write
# A pre-claimed tick's lease, from its time, if shorter than JOB_LEASE_TIMEOUT: a process
# that dies holding one leaves it (and, under FORBID, the job's next ticks) this long at
# most. Its attempt, once running, renews it a third of the way (``poller.py``).
PRE_CLAIM_LEASE = timedelta(seconds=10)


def ticks_with(job: Job, plan: TickPlan, within: timedelta | None, grace: timedelta,
               now: datetime) -> tuple[list[datetime], datetime | None]:  # fmt: skip
    """The ticks after ``plan.run`` to claim with it, and the job's following tick then.

    Only for a tick claimed ahead of its start (``now`` before it: this process keeps up;
    one that falls behind claims no tick before it has a worker for it), run on time
    (nothing missed or coalesced), each starting within ``within`` of the one before, and
    only while the job has a tick after them (a claim that also disables the job is left
    alone). Never for an ``AT_MOST_ONCE`` job: a dead process's entry of such a job is
    settled as abandoned, not run (``claimer.py``), so a pre-claimed tick that had not yet
    started would be lost, and recorded as an attempt that never happened."""
    following = plan.following
    before = start_of(job, plan.run)
    if (within is None or job.schedule is None or plan.run is None or plan.skipped
            or job.at_most_once
            or plan.run != job.next_tick or following is None or before is None
            or now >= before):  # fmt: skip
        return [], following
    ticks: list[datetime] = []
    while len(ticks) < TICKS_PER_CLAIM - 1:
        starts = start_of(job, following)
        assert starts is not None and before is not None
        after = plan_tick(job.schedule, following, following, job.missed_run_policy, grace,
                          tz=job.timezone, end_at=job.end_at).following  # fmt: skip
        if starts - before > within or after is None:
            break
        ticks.append(following)
        before, following = starts, after
    return ticks, following


def entries(job: Job, ticks: list[datetime], owner: str, lease: timedelta) -> tuple[Entry, ...]:
    """The running entries of pre-claimed ``ticks``, each started and leased from its start."""
    lease = min(lease, PRE_CLAIM_LEASE)
    made = []
    for tick in ticks:
        starts = start_of(job, tick)
        assert starts is not None
        made.append(Entry.scheduled(tick, owner=owner, now=starts, lease=lease))
    return tuple(made)


class Verdict(enum.Enum):
    RUN = "run"
    GONE = "gone"  # the job, or our entry, is gone: nothing to write
    RELEASE = "release"  # the job was disabled or rescheduled: pull the entry, not run
    SKIP = "skip"  # the overlap rule refuses it: pull the entry, counted as skipped
    WAIT = "wait"  # our own late attempt of the job's tick before still runs
    GIVE_BACK = "give back"  # taken out too late for its lease: a waiting entry, for anyone


def judge(claimed: Job, entry: Entry, fresh: Job | None, owner: str, *,
          settled_here: set[object], must_wait: bool, now: datetime) -> Verdict:  # fmt: skip
    """What to do with the pre-claimed ``entry`` of ``claimed`` (the job as our claim left
    it) now that the job reads as ``fresh``. ``settled_here``: the ids of the job's settled
    entries whose releases this process holds; ``must_wait``: the job's other tick in
    flight is our own attempt that started after this tick fell due (``catch_up.py``)."""
    if fresh is None:
        return Verdict.GONE
    if not any(e.id == entry.id and e.owner == owner and e.is_running for e in fresh.inflight):
        return Verdict.GONE
    if fresh.updated_at != claimed.updated_at and (
            not fresh.enabled or fresh.next_run_at != claimed.next_run_at):  # fmt: skip
        return Verdict.RELEASE
    assert entry.started_at is not None
    if now - entry.started_at > (entry.due_at - entry.started_at) / 2:  # overloaded
        return Verdict.GIVE_BACK
    busy = [e for e in fresh.inflight if e.id != entry.id and e.id not in settled_here]
    if fresh.forbids_overlap and busy:
        return Verdict.WAIT if must_wait else Verdict.SKIP
    return Verdict.RUN


def in_flight_besides(job: Job, entry: Entry, settled_here: set[object]) -> Job:
    """``job`` as ``catch_up.must_wait`` reads it for ``entry``: due at its start, with the
    other entries in flight."""
    return replace(job, next_run_at=entry.started_at, inflight=tuple(
        e for e in job.inflight if e.id != entry.id and e.id not in settled_here))
