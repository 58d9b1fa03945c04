"""Settlement: what an ended attempt does to its tick, decided once and written so that a
crash can neither lose the outcome nor apply it twice.

``decide`` is pure: success settles the tick; a failure is retried while the job's retry
policy allows it (counted from a replay's first attempt for a replay), after
``next_retry_delay_ms`` (the backoff, or the target's ``Retry-After``, within the job's
``retryDelayMax``); any other failure is final, and a final failure dead-letters the tick
(or, for a replay, marks its dead letter ``replay_failed``).

The writes, in this order (MongoDB gives no multi-document transaction on a standalone
server, SecantusDB's embedded one included, so none is assumed):

1. the attempt's execution record, carrying the verdict (``nextRetryDelay`` or
   ``deadLettered``): the one write that decides;
2. the waiting retry; or the dead letter, inserted under its unique per-tick key; or the
   replay's end on its dead letter (a compare-and-set on ``replaying``);
3. a chained job's triggers (``chaining.py``: the jobs named in the record's ``triggers``,
   one conditional write per child; nothing for an unchained job);
4. the release of the tick (its entry pulled), unless it waits for a retry; a success's
   (with no triggers) held, when this process is to claim the job's next tick soon, for
   that claim to do in its write (``releases.py``).

A process that dies after 1 leaves its entry in flight; whoever takes the entry over when
its lease runs out finds the record (``claimer.py``) and settles the tick again from it
(``settle_recorded``): the same retry, or the same dead letter, whose second insert is a
duplicate-key no-op, and the same triggers, which a child recognises by their key. So each
tick that fails for good has exactly one dead letter, and each child one run per tick.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from scheduler_service import metrics
from scheduler_service.dead_letter import (
    Alert,
    DeadLetter,
    DeadLetterReason,
    LastAttempt,
    SentRequest,
)
from scheduler_service.records import Entry, ExecutionRecord, Job, Status
from scheduler_service.scheduler.alerts import AlertSender
from scheduler_service.scheduler.backoff import next_retry_delay_ms, should_retry
from scheduler_service.scheduler.batched_writes import BatchedWrites, DirectWrites
from scheduler_service.scheduler.chaining import Chaining, children, entry_key
from scheduler_service.scheduler.durable import durable
from scheduler_service.scheduler.releases import Releases
from scheduler_service.stores.dead_letters import DeadLetterStore
from scheduler_service.stores.ticks import TickStore

log = logging.getLogger(__name__)

ORPHAN_MESSAGE = "attempt abandoned: the process running it stopped before recording a result"


class Verdict(Enum):
    DONE = "done"  # settled: success (or a replay's success)
    RETRY = "retry"
    FINAL = "final"  # failed for good: dead-lettered, or a replay failed


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay_ms: int | None = None  # RETRY: the wait before the next attempt
    reason: DeadLetterReason | None = None  # FINAL


def decide(job: Job, entry: Entry, *, success: bool, retryable: bool,
           retry_after_ms: int | None, default_cap_ms: int) -> Decision:  # fmt: skip
    """What the ended attempt ``entry`` does to its tick."""
    if success:
        return Decision(Verdict.DONE)
    if job.at_most_once:  # never attempted twice
        return Decision(Verdict.FINAL, reason=DeadLetterReason.NOT_RETRIED)
    made = entry.attempt - entry.replay_base  # attempts of this run (a replay counts afresh)
    if should_retry(made, job.retry_attempts, retryable):
        cap = job.retry_delay_max or default_cap_ms
        delay = next_retry_delay_ms(made, job.retry_delay, cap, retry_after_ms)
        return Decision(Verdict.RETRY, delay_ms=delay)
    reason = DeadLetterReason.RETRIES_EXHAUSTED if retryable else DeadLetterReason.NOT_RETRIED
    return Decision(Verdict.FINAL, reason=reason)


def recorded_decision(job: Job, entry: Entry, record: ExecutionRecord) -> Decision | None:
    """The decision an attempt's record carries; None if it carries none (a record of an
    earlier version, or an attempt abandoned by a process that died)."""
    if record.status is Status.SUCCESS:
        return Decision(Verdict.DONE)
    if record.next_retry_delay is not None:
        return Decision(Verdict.RETRY, delay_ms=record.next_retry_delay)
    if record.dead_lettered:
        exhausted = entry.attempt - entry.replay_base > job.retry_attempts
        reason = DeadLetterReason.RETRIES_EXHAUSTED if exhausted else DeadLetterReason.NOT_RETRIED
        return Decision(Verdict.FINAL, reason=reason)
    if job.at_most_once:  # its process died: never attempted again
        abandoned = record.error_message == ORPHAN_MESSAGE
        return Decision(Verdict.FINAL, reason=DeadLetterReason.ABANDONED if abandoned
                        else DeadLetterReason.NOT_RETRIED)  # fmt: skip
    return None


def with_decision(record: ExecutionRecord, decision: Decision, job: Job | None = None,
                  entry: Entry | None = None) -> ExecutionRecord:  # fmt: skip
    """The record carrying the decision (what a repeated settlement reads back), and with
    ``job`` and ``entry`` the jobs it triggers (``chaining.children``)."""
    final = decision.verdict is Verdict.FINAL
    triggers = () if job is None or entry is None else children(
        job, entry, succeeded=decision.verdict is Verdict.DONE, dead_lettered=final)
    return replace(record, next_retry_delay=decision.delay_ms, dead_lettered=final,
                   triggers=triggers)  # fmt: skip


@dataclass
class Settlement:
    ticks: TickStore
    dead_letters: DeadLetterStore
    writes: BatchedWrites | DirectWrites
    owner: str
    stopping: threading.Event
    chaining: Chaining
    alerts: AlertSender | None = None
    wake: threading.Event | None = None  # set when chained runs were queued: poll now
    releases: Releases | None = None  # releases held for the job's next claim

    def settle(self, job: Job, entry: Entry, record: ExecutionRecord, decision: Decision,
               request: SentRequest, now: datetime) -> None:  # fmt: skip
        """Write the record (which carries the decision and the triggers), then apply the
        decision."""
        decided = with_decision(record, decision, job, entry)
        durable(lambda: self.writes.record(decided), self.stopping)
        self.apply(job, entry, decided, decision, request, now)

    def apply(self, job: Job, entry: Entry, record: ExecutionRecord, decision: Decision,
              request: SentRequest, now: datetime) -> None:  # fmt: skip
        """Steps 2 to 4 for a tick whose record is written; repeatable."""
        assert job.id is not None
        job_id = job.id
        if decision.verdict is Verdict.RETRY:
            assert decision.delay_ms is not None and record.completed_at is not None
            waiting = Entry.retry(entry, record.completed_at
                                  + timedelta(milliseconds=decision.delay_ms))  # fmt: skip
            # A job disabled meanwhile gets no retry (a manual run's retries still happen,
            # and so do those of a job's last tick, whose claim disabled it): the tick is
            # cancelled, not dead-lettered.
            enabled_only = not entry.is_manual and not job.has_last_tick
            if durable(lambda: self.ticks.schedule_retry(
                    job_id, self.owner, waiting, enabled_only=enabled_only),
                    self.stopping):  # fmt: skip
                return
        elif entry.replay_of is not None:
            self._end_replay(job_id, entry, record, decision, now)
        elif decision.verdict is Verdict.FINAL and not self._dead_letter(
                job, entry, record, decision, request, now):  # fmt: skip
            # Not written (the database stayed away): keep the tick in flight, so that it is
            # settled again, from its record, once its lease runs out. Never released unsaid.
            return
        if record.triggers and durable(lambda: self._trigger(record, entry, now),
                                       self.stopping) is None:  # fmt: skip
            return  # kept in flight, as above: the take-over triggers from the record
        # A success with no triggers only: a take-over may replace such an entry knowing its
        # record alone (``claimer.py``); a dead letter or triggers must be known written.
        if (self.releases is not None and decision.verdict is Verdict.DONE
                and not record.triggers and not entry.is_manual
                and self.releases.defer(job_id, entry.id, now)):  # fmt: skip
            return  # released with the job's next claim, or in a batch (``releases.py``)
        durable(lambda: self.writes.drop_entry(job_id, entry.id), self.stopping)

    def _trigger(self, record: ExecutionRecord, entry: Entry, now: datetime) -> int:
        queued = self.chaining.trigger(record, entry, now)
        if queued and self.wake is not None:  # due now, as a manual run: not a poll later
            self.wake.set()
        return queued

    def _dead_letter(self, job: Job, entry: Entry, record: ExecutionRecord, decision: Decision,
                     request: SentRequest, now: datetime) -> bool:  # fmt: skip
        """Write the tick's dead letter; False if it could not be written."""
        assert job.id is not None and decision.reason is not None
        targets = self.alerts.targets(job.alert_endpoint) if self.alerts is not None else ()
        alert = self.alerts.new_alert(targets, now) if self.alerts is not None else Alert()
        dead_letter = DeadLetter.new(
            job_id=job.id, name=job.name or None, scheduled_at=entry.scheduled_at,
            idempotency_key=entry_key(job.id, entry),
            last_attempt=last_attempt(record), request=request, reason=decision.reason,
            now=now, alert=alert, trigger=entry.trigger,
        )  # fmt: skip
        inserted = durable(lambda: self.dead_letters.add(dead_letter), self.stopping)
        if inserted is None:
            return False
        if not inserted:  # already there: a repeated settlement
            return True
        metrics.record_dead_letter(decision.reason.value)
        log.warning("job %s: tick %s dead-lettered after %d attempts (%s): %s", job.id,
                    entry.scheduled_at.isoformat(), entry.attempt, decision.reason.value,
                    dead_letter.id)  # fmt: skip
        if self.alerts is not None:
            self.alerts.submit(dead_letter, targets)
        return True

    def _end_replay(self, job_id: Any, entry: Entry, record: ExecutionRecord,
                    decision: Decision, now: datetime) -> None:  # fmt: skip
        success = decision.verdict is Verdict.DONE
        ended = durable(lambda: self.dead_letters.end_replay(
            job_id, entry.scheduled_at, last_attempt(record), success, now), self.stopping)
        if ended is not None:
            metrics.record_replay(ended.state.value)


def last_attempt(record: ExecutionRecord) -> LastAttempt:
    return LastAttempt(record.status.value, record.attempt, record.response_code,
                       record.error_message, record.response_body, record.started_at,
                       record.completed_at)  # fmt: skip
