"""What ``Claimer.claim`` returns: the ticks won (``Claim``), and what became of each
candidate (``Claims``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from scheduler_service.records import Entry, ExecutionRecord, Job
from scheduler_service.scheduler.timer_queue import Candidate


@dataclass(frozen=True)
class Claim:
    """A tick this process won: ``entry`` is running, owned here, its lease set."""

    job: Job
    entry: Entry
    following: datetime | None = None  # a scheduled tick: the job's new nextRunAt
    following_tick: datetime | None = None  # and its new nextTickAt
    pre_claimed: tuple[Entry, ...] = ()  # the ticks after it claimed in the same write
    # An orphan to settle from its attempt's record, not to run (``settlement.py``).
    recorded: ExecutionRecord | None = None
    handed_to: str | None = None  # the job's claimedBy, if another process's (``balance.py``)

    @property
    def key(self) -> tuple[object, object]:
        return (self.job.id, self.entry.id)

    def job_as_left(self) -> Job:
        """The job as this claim left it (what the next claim's compare-and-set checks)."""
        return replace(self.job, next_run_at=self.following, next_tick_at=self.following_tick,
                       inflight=(self.entry, *self.pre_claimed),
                       claimed_by=self.handed_to or self.entry.owner)


@dataclass
class Claims:
    """The outcome of one ``Claimer.claim``: ``won`` pairs each candidate with its claim."""

    won: list[tuple[Candidate, Claim]] = field(default_factory=list)
    refused: list[Candidate] = field(default_factory=list)  # the database said no
    unanswered: list[Candidate] = field(default_factory=list)  # outcome unknown: lost

    def add(self, candidate: Candidate, claim: Claim | None) -> None:
        if claim is None:
            self.refused.append(candidate)
        else:
            self.won.append((candidate, claim))
