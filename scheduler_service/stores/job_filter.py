"""What ``GET /api/jobs`` selects (``JobFilter``), as a MongoDB query and as the
stretches of an order that ``job_pages`` walks; and what one page holds (``JobPage``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from scheduler_service.records import Job
from scheduler_service.stores.job_counts import JobCounts
from scheduler_service.stores.job_days import Days, parse_days
from scheduler_service.stores.job_pages import END, EPOCH, Frontier, Segment

_SORT_KEYS = {"createdAt": "createdAt", "nextRunAt": "nextRunAt", "name": "name"}


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    after: Frontier | None  # where the next page starts; None: no job is left
    total: int
    total_exact: bool  # False: ``total`` is an estimate (see ``JobStore._total``)
    complete: bool  # False: the scan budget ran out before the page was full


@dataclass(frozen=True)
class JobFilter:
    """What ``GET /api/jobs`` selects: every tag given, ``enabled``, a substring of name or
    endpoint (``q``), and the order (``sort``: a field, ``-`` for descending)."""

    tags: tuple[str, ...] = ()
    enabled: bool | None = None
    q: str | None = None
    sort: str = "-createdAt"

    def order(self) -> list[tuple[str, int]]:
        direction = DESCENDING if self.sort.startswith("-") else ASCENDING
        return [(_SORT_KEYS[self.sort.lstrip("-")], direction), ("_id", direction)]

    @property
    def selects_all(self) -> bool:
        return not (self.tags or self.enabled is not None or self.q)

    def admits(self, document: dict[str, Any]) -> bool:
        """Whether a job (its ``WALK_FIELDS``) matches, as ``query()`` says on the server."""
        if self.enabled is not None and document.get("enabled") is not self.enabled:
            return False
        if self.tags and not set(self.tags) <= set(document.get("tags") or ()):
            return False
        return not self.q or self.q.lower() in (document.get("searchText") or "")

    @property
    def reads_disabled(self) -> bool:
        """Whether the list reads disabled jobs (from the catalog: ``JobCatalog.overdue``)."""
        return self.enabled is False or (self.enabled is None and "nextRunAt" in self.sort)

    @property
    def exact_base(self) -> bool:
        """Whether the walk's index range alone selects the jobs (no check left)."""
        return not self.q and len(self.tags) + (self.enabled is not None) <= 1

    @property
    def segment_count(self) -> int:
        """How many segments ``segments`` makes of the order, whatever the counts."""
        return 2 if self.sort.lstrip("-") == "nextRunAt" and self.enabled is None else 1

    def segments(self, now: datetime, counts: JobCounts) -> list[Segment]:
        """The order as stretches the walk reads in windows (``stores/job_pages.py``):
        ``createdAt`` on the filter's index (its first tag, else ``enabled``); by
        ``nextRunAt``, the disabled jobs (none) by ``createdAt``, then the enabled ones on
        the poller's index, ``{enabled, nextRunAt, _id}``; by ``name``, every job on
        ``{name, _id}``. Those two are read between sampled jobs (``job_fences``)."""
        direction = DESCENDING if self.sort.startswith("-") else ASCENDING
        first = {"tags": self.tags[0]} if self.tags else {}
        floor, ceiling = counts.oldest_created_at or EPOCH, now + timedelta(seconds=1)
        days = Days(parse_days(counts.days, counts.first, counts.last))
        total = max(counts.total, 1)
        if self.tags:
            days = days.with_share(counts.tagged(self.tags[0]) / total)
        elif self.enabled is not None:
            enabled = counts.enabled if self.enabled else counts.total - counts.enabled
            days = days.with_share(enabled / total)
        field = self.sort.lstrip("-")
        if field == "name":  # every job, by name; the filter checked on each read
            return [Segment({}, "name", direction, floor, ceiling, fenced=True,
                            exact=self.selects_all)]  # fmt: skip
        if field == "createdAt":
            base = first or ({} if self.enabled is None else {"enabled": self.enabled})
            return [Segment(base, "createdAt", direction, floor, ceiling, days=days,
                            exact=self.exact_base)]  # fmt: skip
        parts = []
        plain = not (self.q or self.tags)  # {enabled} alone selects the stretch's jobs
        if self.enabled is not True:
            own = days if first else days.with_share((counts.total - counts.enabled) / total)
            parts.append(Segment(first or {"enabled": False}, "createdAt", direction, floor,
                                 ceiling, days=own, enabled=False, exact=plain))  # fmt: skip
        if self.enabled is not False:
            parts.append(Segment({"enabled": True}, "nextRunAt", direction, now, END,
                                 fenced=True, exact=plain))  # fmt: skip
        return parts if direction == ASCENDING else parts[::-1]
