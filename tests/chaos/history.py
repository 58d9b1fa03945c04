"""The history checker: what the target received and what the database holds, against the
schedule and the guarantees the README states.

Per tick (job, scheduled time) inside the checked window:

- ``AT_MOST_ONCE``: received at most once, whatever the fault. A tick never received is
  allowed (its process may have died after the claim) and counted as ``missed``.
- ``AT_LEAST_ONCE``: received at least once, unless the job's policies allow a tick to go:
  ``missedRunPolicy`` COALESCE or SKIP drop a tick that no process could claim within the
  misfire grace (seen here as: the job's next delivered tick arrived later than the grace
  after this one), and ``concurrencyPolicy`` FORBID skips a tick that fell due while the
  job's previous tick was still being answered. RUN_ALL with ALLOW excuses nothing. A tick
  answered 2xx more than once is a duplicate: tolerated only where a process lost its lease
  for real (``LEASE_FAULTS``: it died, or could not reach the database), never under clock
  skew alone, added latency or reset connections.
- every ``success`` record has a request that the target answered 2xx (same tick, same
  attempt); nothing is left in flight once the run has drained; every job the API
  acknowledged (201) is still stored.

A fault's window runs from a lease before it struck (attempts then in flight feel it) to
its end plus recovery; a tick's row is the latest-starting window that holds its scheduled
time (the rest: "clock skew only", since the skewed processes run all along), and a
duplicate is tolerated if any window holding it is a ``LEASE_FAULTS`` one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler_service import cron
from tests.chaos.target import Receipt

BASELINE = "clock skew only"
LEASE_FAULTS = {"db-crash", "kill-9", "net-blackhole"}
OVERLAP_SLACK_S = 5.0
EARLY_SLACK_S = 0.05  # BSON dates are milliseconds; the target's clock is the same one


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    schedule: str
    execution_type: str  # AT_LEAST_ONCE | AT_MOST_ONCE
    concurrency: str  # FORBID | ALLOW
    missed: str  # COALESCE | SKIP | RUN_ALL


@dataclass(frozen=True)
class FaultWindow:
    name: str
    start: float  # unix seconds
    end: float  # fault over and recovered (lease ran out, a poll or two)


@dataclass
class Row:
    fault: str
    expected: int = 0
    delivered: int = 0
    dup_at_most_once: int = 0
    dup_at_least_once: int = 0
    lost: int = 0
    excused: int = 0  # not delivered, as a documented policy allows
    missed_at_most_once: int = 0
    late: int = 0  # first delivery later than one poll interval
    early: int = 0  # first delivery before the scheduled time

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    rows: dict[str, Row]
    violations: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def total(self) -> Row:
        total = Row("total")
        for row in self.rows.values():
            for key, value in row.as_dict().items():
                if key != "fault":
                    setattr(total, key, getattr(total, key) + value)
        return total


def _when(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def containing(faults: list[FaultWindow], scheduled: datetime) -> list[str]:
    """The faults whose windows hold the tick, the latest to start first."""
    at = scheduled.timestamp()
    hits = [fault for fault in faults if fault.start <= at <= fault.end]
    return [fault.name for fault in sorted(hits, key=lambda f: f.start, reverse=True)]


def attribute(faults: list[FaultWindow], scheduled: datetime) -> str:
    """The row of a tick: the latest fault that may have touched it, or the baseline."""
    return (containing(faults, scheduled) or [BASELINE])[0]


def check(
    specs: list[JobSpec],
    receipts: list[Receipt],
    records: list[dict[str, Any]],
    left_in_flight: list[str],
    acknowledged: set[str],
    stored: set[str],
    skipped: dict[str, int],
    faults: list[FaultWindow],
    window: tuple[float, float],
    poll_s: float,
    grace_s: float,
) -> Report:
    report = Report({BASELINE: Row(BASELINE)} | {f.name: Row(f.name) for f in faults})
    by_tick: dict[tuple[str, datetime], list[Receipt]] = defaultdict(list)
    for receipt in receipts:
        by_tick[(receipt.job_id, receipt.scheduled)].append(receipt)
    for spec in specs:
        _check_job(spec, by_tick, skipped, faults, window, poll_s, grace_s, report)
    answered_ok = {(r.job_id, r.scheduled, r.attempt) for r in receipts if r.ok}
    for record in records:
        if record.get("status") != "success":
            continue
        key = (str(record["jobId"]), record["scheduledAt"].astimezone(UTC), record["attempt"])
        if key not in answered_ok:
            report.violations.append(f"success record without a 2xx answer: {key}")
    report.violations += [f"left in flight after the run: {entry}" for entry in left_in_flight]
    report.violations += [f"acknowledged job lost: {job}" for job in sorted(acknowledged - stored)]
    report.extra = {"records": len(records), "receipts": len(receipts),
                    "acknowledged_jobs": len(acknowledged), "left_in_flight": len(left_in_flight),
                    "acknowledged_lost": len(acknowledged - stored)}  # fmt: skip
    return report


def _check_job(spec: JobSpec, by_tick: dict[tuple[str, datetime], list[Receipt]],
               skipped: dict[str, int], faults: list[FaultWindow], window: tuple[float, float],
               poll_s: float, grace_s: float, report: Report) -> None:  # fmt: skip
    start, end = _when(window[0]), _when(window[1])
    ticks = cron.fire_times(spec.schedule, start - timedelta(milliseconds=1), end, 1_000_000)
    # every tick the target saw, to tell when the job's next delivered tick arrived
    seen = sorted(t for (job, t) in by_tick if job == spec.job_id)
    overlaps = 0
    for tick in ticks:
        got = sorted(by_tick.get((spec.job_id, tick), []), key=lambda r: r.received)
        near = containing(faults, tick)
        row = report.rows[near[0] if near else BASELINE]
        row.expected += 1
        label = f"{spec.execution_type} job {spec.job_id} tick {tick.isoformat()} ({row.fault})"
        if got:
            row.delivered += 1
            lateness = got[0].received - tick.timestamp()
            row.late += lateness > poll_s
            if lateness < -EARLY_SLACK_S:
                row.early += 1
                report.violations.append(f"fired early: {-lateness:.1f} s, {label}")
        if spec.execution_type == "AT_MOST_ONCE":
            if len(got) > 1:
                row.dup_at_most_once += len(got) - 1
                report.violations.append(f"received {len(got)} times: {label}")
            row.missed_at_most_once += not got
        else:
            lease_lost = bool(LEASE_FAULTS.intersection(near))
            overlaps += _at_least_once(spec, tick, got, seen, by_tick, grace_s, row, label,
                                       report, lease_lost) == "overlap"  # fmt: skip
    if overlaps > skipped.get(spec.job_id, 0):
        report.violations.append(
            f"job {spec.job_id}: {overlaps} ticks missing as overlap "
            f"skips, but the job counted {skipped.get(spec.job_id, 0)}"
        )


def _at_least_once(spec: JobSpec, tick: datetime, got: list[Receipt], seen: list[datetime],
                   by_tick: dict[tuple[str, datetime], list[Receipt]], grace_s: float, row: Row,
                   label: str, report: Report, lease_lost: bool) -> str | None:  # fmt: skip
    """Count one AT_LEAST_ONCE tick; return why it may be missing, if it is."""
    answered_ok = sum(r.ok for r in got)
    if answered_ok > 1:
        row.dup_at_least_once += answered_ok - 1
        if not lease_lost:
            report.violations.append(f"answered 2xx {answered_ok} times: {label}")
    if got:
        return None
    reason = _excused(spec, tick, seen, by_tick, grace_s)
    if reason is None:
        row.lost += 1
        report.violations.append(f"never received: {label}")
    else:
        row.excused += 1
    return reason


def _excused(
    spec: JobSpec,
    tick: datetime,
    seen: list[datetime],
    by_tick: dict[tuple[str, datetime], list[Receipt]],
    grace_s: float,
) -> str | None:
    """May the job's policies have dropped this tick?"""
    if spec.missed in ("COALESCE", "SKIP"):
        following = [t for t in seen if t > tick]
        first = (
            min((r.received for r in by_tick[(spec.job_id, following[0])]), default=None)
            if following
            else None
        )
        if first is None or first - tick.timestamp() > grace_s:
            return "missed"  # nothing claimed it within the grace: coalesced or skipped
    if spec.concurrency == "FORBID":
        earlier = [t for t in seen if t < tick]
        if earlier:
            last = max(r.answered for r in by_tick[(spec.job_id, earlier[-1])])
            # the entry stays in flight until the attempt is recorded: allow some seconds;
            # the caller checks these against the skips the job itself counted
            if last + OVERLAP_SLACK_S >= tick.timestamp():
                return "overlap"
    return None
