"""Where a tick is claimed, and what is written: every kind of work goes through here.

The dispatcher hands ``Claimer.claim`` the candidates due now (``timer_queue.Candidate``:
what a poll saw) and runs only what comes back claimed. Each claim is a compare-and-set on
the job document (``stores/ticks.py``), so that one process runs the tick:

- a **scheduled** tick: one ``update_many`` per group of jobs that share the tick, the next
  one and the overlap rule. It advances ``nextRunAt``, sets ``lastRunAt`` and
  ``claimedBy`` (this process, or the one it hands the job over to, ``balance.py``: then
  that one claims the job's next tick, and this one queues no follow-up), and pushes a
  running ``Entry`` (owner, lease) into ``inflight``; and when the job's next tick starts
  soon, that one's entry too (``pre_claims.py``). Ticks missed by policy and ticks refused
  by the overlap rule are moved past (``skip_tick``: ``nextRunAt`` and ``skippedTicks``).
- a **retry**, **manual** run or **replay** (a waiting entry), or an **orphan** (a running
  entry whose lease ran out: its process died): one ``update_one`` turns the entry into a
  running one of this process. An orphan is first checked against its execution record:
  recorded as a success, it is only released; recorded with its settlement (a retry, a
  dead letter, or chained jobs to trigger, see ``settlement.py``), or of an at-most-once
  job, it is claimed to be settled, not run (``Claim.recorded``; at-most-once:
  dead-lettered as abandoned);
  otherwise its attempt is recorded as abandoned and re-delivered as the next attempt.

Nothing is written when an attempt starts. When it ends, ``executor.py`` writes (group
committed, ``batched_writes.py``) its execution record to ``job_executions``, then either
pulls the entry (the tick is settled) or turns it into a waiting retry (``Entry.retry``).
When this process is to claim the job's next tick soon (it queued it as a follow-up), the
settled entries are not pulled on their own: that claim replaces them (``releases.py``).
Document writes of ticks that succeed at once: an every-second job's two ticks, one claim
and two records (1.5 a tick); a job whose next tick follows within the look-ahead, two a
tick (claim, record); any other, three (claim, record, release).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.records import Entry, ExecutionRecord, Job, Status
from scheduler_service.scheduler import pre_claims
from scheduler_service.scheduler.claims import Claim, Claims
from scheduler_service.scheduler.local_attempts import RunningAttempts
from scheduler_service.scheduler.planning import plan_job
from scheduler_service.scheduler.releases import Releases
from scheduler_service.scheduler.settlement import ORPHAN_MESSAGE, recorded_decision
from scheduler_service.scheduler.timer_queue import Candidate
from scheduler_service.scheduling import start_of
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

CLAIM_BATCH = 200  # jobs claimed in one write at most


@dataclass
class Claimer:
    ticks: TickStore
    executions: ExecutionStore
    clock: Clock
    owner: str
    lease: timedelta
    misfire_grace: timedelta
    running: RunningAttempts
    releases: Releases | None = None  # settled entries a claim may replace (one write)
    pre_claim_within: timedelta | None = None  # claim the next tick too if it starts by then
    # The process to hand a job claimed as a pair over to, if any (``balance.py``).
    hand_over: Callable[[], str | None] | None = None

    def claim(self, candidates: list[Candidate]) -> Claims:
        """Claim what is due: scheduled ticks together, waiting and orphaned entries one by
        one. A database error loses the claims it touched (leases recover any that did land)."""
        claims = Claims()
        scheduled = [c for c in candidates if c.entry is None]
        if scheduled:
            try:
                won = self._claim_scheduled(scheduled)
            except PyMongoError as exc:
                metrics.record_database_error("runner")
                log.warning("database error while claiming %d ticks: %s", len(scheduled), exc)
                claims.unanswered.extend(scheduled)
            else:
                for candidate in scheduled:
                    claims.add(candidate, won.get(candidate.job.id))
        for candidate in candidates:
            if candidate.entry is not None:
                self._claim_one_entry(candidate, claims)
        return claims

    def _claim_one_entry(self, candidate: Candidate, claims: Claims) -> None:
        assert candidate.entry is not None
        try:
            claim = self._claim_entry(candidate.job, candidate.entry)
        except PyMongoError as exc:
            metrics.record_database_error("runner")
            log.warning("database error while handling job %s: %s", candidate.job.id, exc)
            claims.unanswered.append(candidate)
        except Exception:
            log.exception("unexpected error while handling job %s", candidate.job.id)
            claims.unanswered.append(candidate)
        else:
            claims.add(candidate, claim)

    def _claim_scheduled(self, candidates: list[Candidate]) -> dict[object, Claim]:
        """Claim the scheduled ticks of the candidates' jobs; the claims won, by job id."""
        now = self.clock.now()
        # Claimed together: jobs with the same stored tick (the claim's compare-and-set
        # value), tick to run, next one (when it starts, and itself) and overlap rule, that
        # replace as many settled entries (``releases.py``; ``held``: job -> entry ids), and
        # claim the same ticks with it (``pre_claims.py``).
        groups: dict[tuple[object, ...], list[Candidate]] = {}
        held: dict[object, Any] = {}
        # How late our follow-ups come: how long held releases wait for the next claims.
        late = [now - c.job.next_run_at for c in candidates if c.follow_up and c.job.next_run_at]
        if self.releases is not None and late:
            self.releases.note_lateness(max(late), now)
        for candidate in candidates:
            job = candidate.job
            # Claimed ahead (``dispatcher.py``): planned, started and leased from its time.
            plan = plan_job(job, max(now, job.next_run_at or now), self.misfire_grace)
            if plan.run is None:
                starts = start_of(job, plan.following)
                if self.ticks.skip_tick(job, starts, plan.skipped, following_tick=plan.following):
                    metrics.record_skipped("missed", plan.skipped)
                continue
            # Its next tick(s) too when they follow soon (``pre_claims.py``).
            pre, following = pre_claims.ticks_with(job, plan, self.pre_claim_within,
                                                   self.misfire_grace, now)  # fmt: skip
            starts = start_of(job, following)
            if self.releases is not None and (replaces := self.releases.take(
                    job.id, tuple(entry.id for entry in job.inflight))):  # fmt: skip
                held[job.id] = replaces
            to = self.hand_over() if pre and self.hand_over is not None else None
            key = (job.next_run_at, plan.run, starts, following, job.forbids_overlap,
                   len(held.get(job.id, ())),
                   tuple((t, start_of(job, t)) for t in pre), to)  # fmt: skip
            groups.setdefault(key, []).append(candidate)
        won: dict[object, Claim] = {}
        pending = list(groups.items())
        try:
            while pending:
                (seen, run, starts, tick, forbid, _, pre, to), members = pending.pop(0)
                assert isinstance(run, datetime)
                at = max(now, seen) if isinstance(seen, datetime) else now
                self._claim_group(members, (run, starts, tick, bool(forbid), pre, to), held,
                                  at, won)  # fmt: skip
        except PyMongoError:
            for _, members in pending:  # never sent: their held releases are still due
                self._give_back(members, held, now)
            raise
        return won

    def _claim_group(self, members: list[Candidate], plan: tuple[Any, ...],
                     held: dict[object, Any], now: datetime,
                     won: dict[object, Claim]) -> None:  # fmt: skip
        run, starts, tick, forbid, pre, to = plan
        for start in range(0, len(members), CLAIM_BATCH):
            batch = members[start : start + CLAIM_BATCH]
            replaces = list(dict.fromkeys(held[c.job.id] for c in batch if c.job.id in held))
            entry = Entry.scheduled(run, owner=self.owner, now=now, lease=self.lease)
            also = pre_claims.entries(batch[0].job, [t for t, _ in pre], self.owner, self.lease)
            try:
                won_ids = self.ticks.claim_ticks(
                    [c.job for c in batch], entry, starts, following_tick=tick,
                    forbid_overlap=forbid, started_at=now, replaces=replaces or None,
                    pre_claimed=also, claimed_by=to,
                )  # fmt: skip
            except PyMongoError:
                self._give_back(members[start:], held, now)
                raise
            won.update({c.job.id: Claim(c.job, entry, starts, tick, pre_claimed=also,
                                        handed_to=to)
                        for c in batch if c.job.id in won_ids})  # fmt: skip
            lost = [candidate for candidate in batch if candidate.job.id not in won_ids]
            self._give_back(lost, held, now)
            moved_on = self._moved_on(lost) if forbid and not replaces else set()
            for candidate in lost:
                claim = self._over_a_settled_entry(candidate, run, starts, tick, now) \
                    if forbid and not replaces and candidate.job.id not in moved_on \
                    else None  # fmt: skip
                if claim is not None:
                    won[candidate.job.id] = claim
                else:
                    self._lost(candidate, run, starts, tick, forbid and
                               candidate.job.id not in moved_on, bool(replaces))  # fmt: skip

    def _moved_on(self, lost: list[Candidate]) -> set[object]:
        """Of the FORBID claims lost, the jobs no longer as polled (another process claimed
        the tick, or the job changed), in one read: the overlap rule's writes hold only while
        a job is as seen, so they are not sent (one by one they kept a saturated process's
        dispatcher busy: README, Performance). Follow-ups and idle jobs are not read."""
        unsure = {c.job.id: c.job for c in lost if not c.follow_up and c.job.inflight}
        fresh = {job.id: job for job in self.ticks.jobs_by_id(list(unsure))} if unsure else {}
        return {job_id for job_id, seen in unsure.items()
                if (job := fresh.get(job_id)) is None or not job.enabled
                or (job.next_run_at, job.updated_at) != (seen.next_run_at, seen.updated_at)}

    def _over_a_settled_entry(self, candidate: Candidate, run: datetime, starts: Any,
                              tick: Any, now: datetime) -> Claim | None:  # fmt: skip
        """A FORBID claim refused because the job holds only another process's entries
        (a tick, and one claimed with it) whose attempts are recorded as successes: that
        process held their releases for its next claim (``releases.py``) and is late, or
        died. The ticks are settled, so this claim replaces the entries instead of skipping
        the tick (one read per entry, only on this path)."""
        job = candidate.job
        held = job.inflight
        if not held or candidate.follow_up or len({e.owner for e in held}) != 1:
            return None
        if any(not e.is_running or e.owner == self.owner or e.is_manual for e in held):
            return None
        for settled in held:
            recorded = self.executions.recorded(job.id, settled.scheduled_at, settled.attempt)
            if recorded is None or recorded.status is not Status.SUCCESS or recorded.triggers:
                return None  # with triggers: written by the entry's take-over, after its lease
        entry = Entry.scheduled(run, owner=self.owner, now=now, lease=self.lease)
        if not self.ticks.claim_ticks([job], entry, starts, following_tick=tick,
                                      forbid_overlap=True, started_at=now,
                                      replaces=tuple(e.id for e in held),
                                      replaced_owner=held[0].owner):  # fmt: skip
            return None
        return Claim(job, entry, starts, following_tick=tick)

    def _give_back(self, lost: list[Candidate], held: dict[object, Any], now: datetime) -> None:
        for candidate in lost:
            if self.releases is not None and candidate.job.id in held:
                self.releases.back(candidate.job.id, held[candidate.job.id], now)

    def _lost(self, candidate: Candidate, run: datetime, following: datetime | None,
              tick: datetime | None, forbid: bool, folded: bool = False) -> None:  # fmt: skip
        job = candidate.job
        if (
            forbid
            and not folded  # the job held only our settled entries: nothing to refuse
            and self._maybe_busy(candidate)
            and self.ticks.skip_tick(job, following, following_tick=tick, only_if_busy=True)
        ):
            metrics.record_skipped("overlap")
            log.info("job %s: tick %s skipped, the previous one is still running",
                     job.id, run.isoformat())  # fmt: skip
        else:  # another process claimed it first, or the job changed since the poll
            metrics.CLAIM_CONFLICTS.inc()

    def _maybe_busy(self, candidate: Candidate) -> bool:
        """Could the overlap rule have refused this claim? Yes if the job had a tick in flight
        when polled. For a follow-up (the next tick queued right after our own claim), only
        while that attempt of ours still runs: otherwise the claim was lost to another
        process, and a skip write would only cost the database a round trip."""
        job = candidate.job
        if candidate.follow_up:
            return any((job.id, entry.id) in self.running for entry in job.inflight)
        return bool(job.inflight)

    def _claim_entry(self, job: Job, entry: Entry) -> Claim | None:
        """Take a waiting entry (a retry, a manual run or a replay) or an orphan; None if not
        won or nothing is left to run."""
        now = self.clock.now()
        orphan = entry.is_running
        recorded = None
        if orphan:
            recorded = self.executions.recorded(job.id, entry.scheduled_at, entry.attempt)
            if recorded is not None and recorded.status is Status.SUCCESS \
                    and entry.replay_of is None and not recorded.triggers:  # fmt: skip
                # Its process recorded a success and died before releasing the tick: settled.
                # (Unless the success triggers chained jobs: then it is settled as below.)
                self.ticks.drop_settled_entry(job.id, entry)
                return None
        # An orphan whose record carries its settlement, or of an at-most-once job, is
        # settled here (settlement.py), never re-run; any other orphan is re-delivered: the
        # same tick and key, the next attempt.
        settles = orphan and (job.at_most_once or (
            recorded is not None and recorded_decision(job, entry, recorded) is not None))
        taken = entry.taken(self.owner, now, self.lease,
                            next_attempt=orphan and not settles)  # fmt: skip
        if not self.ticks.claim_entry(job.id, entry, taken):
            metrics.CLAIM_CONFLICTS.inc()
            return None
        if not orphan and entry.attempt > 1 and entry.replay_of is None:  # a retry
            metrics.record_start_lag("retry", self.clock.now(), entry.due_at)
        if not orphan:
            return Claim(job, taken)
        log.warning("job %s: re-claimed tick %s from a stopped process",
                    job.id, entry.scheduled_at.isoformat())  # fmt: skip
        if recorded is None or not settles:
            self.executions.close_orphan(job.id, entry, now, ORPHAN_MESSAGE)
        if not settles:
            return Claim(job, taken)
        if recorded is None:
            recorded = ExecutionRecord.abandoned(job.id, entry, now, ORPHAN_MESSAGE)
        return Claim(job, taken, recorded=recorded)
