"""One page of ``GET /api/jobs``, read in windows of the sort key so that its cost follows
the page asked for, not the number of jobs.

A page is the jobs after a *frontier* in the order asked for. The walk reads the jobs of
the next key range (a window: ``createdAt`` within some milliseconds of the frontier,
served by the filter's compound index), keeps the ones the whole filter admits, and moves
on to a wider window until the page is full or no job is left. Each window's width is set
from the density of the previous ones: it starts at a few milliseconds per job wanted and
grows at most 4-fold per step, so a burst of jobs created together costs little more than
the page, and a sparse stretch costs a few empty reads.

Why windows: SecantusDB answers a query by reading every document its index range
selects, then sorting and limiting them in memory (measured at 100,000 jobs: the newest
20 jobs 4 s and more, a window of 600 jobs 46 ms, of 60 jobs 8 ms). MongoDB walks the index
in order and stops at the limit, so each window is there one index walk of at most the
page (every window query carries the sort and a limit); the windows cost MongoDB only the
extra round trips of a sparse stretch.

A frontier ``(key, id)`` means: every job before ``key`` in the order, and the jobs at
``key`` up to ``id`` (none if ``id`` is None), have been seen. The API hands it out as
``nextCursor`` (``services/job_cursor.py``); page numbers walk from the start. The orders
by ``name`` and ``nextRunAt``, whose keys' spread nothing counts, are read between
sampled jobs instead (``job_fences``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.collection import Collection

from scheduler_service.stores.job_days import Days
from scheduler_service.stores.key_bounds import inclusive

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Beyond every key a job can have (the API takes years up to 2999); past it, the last
# window is unbounded, so a job outside the range is still listed.
END = datetime(3000, 1, 1, tzinfo=UTC)
FIRST_SPACING_MS = 5.0  # the first window's guess: a job every 5 ms (a burst of creates)
MAX_GROWTH = 4.0
# The fields a walk reads of each job (the page's jobs are then read whole, by _id).
WALK_FIELDS = ["createdAt", "nextRunAt", "name", "enabled", "tags", "searchText"]


@dataclass(frozen=True)
class Frontier:
    """Where a walk stands in one segment: ``segment`` (its index in the order's
    segments), the key and id seen up to (``id`` None: none at ``key``; ``key`` None: the
    segment's start), and the spacing between jobs met so far (ms per job)."""

    segment: int = 0
    key: datetime | str | None = None
    id: ObjectId | None = None
    spacing_ms: float = FIRST_SPACING_MS
    past: bool = False  # every job at ``key`` has been seen


@dataclass(frozen=True)
class Segment:
    """A stretch of the order: the jobs ``base`` selects, by ``field`` then ``_id``, in
    ``direction``; ``floor`` is where the walk starts (ascending: nothing before it but
    in its first, unbounded window) or ends (descending)."""

    base: dict[str, Any]
    field: str
    direction: int
    floor: datetime
    ceiling: datetime
    # Read between sampled jobs (``job_fences``) instead of in windows: the orders with
    # no count of how their keys spread (``name``, ``nextRunAt``).
    fenced: bool = False
    days: Days | None = None  # jobs created per day: sizes ``createdAt`` windows
    enabled: bool | None = None  # the stretch's own ``enabled``, if its index range has both
    exact: bool = False  # its index range selects exactly the jobs wanted (``base`` says all)


@dataclass
class WalkResult:
    items: list[dict[str, Any]]  # the walk's fields of the jobs taken, in order
    frontier: Frontier | None  # where the next page starts; None: nothing is left
    scanned: int  # jobs read, the page's and the others
    complete: bool  # False: the scan budget ran out before the page was full
    # ``walk_segments``: the segment each item was read in (the same length as ``items``).
    sources: list[Segment] = field(default_factory=list)


def _window(segment: Segment, frontier: Frontier, width: timedelta | None) -> dict[str, Any]:
    """The key range of the next window (``width`` None: to the end)."""
    forward = segment.direction == ASCENDING
    key = frontier.key
    if key is None:  # the first window: unbounded behind the start
        start = segment.floor if forward else segment.ceiling
        if width is None:
            return {}
        return {"$lt": start + width} if forward else {"$gt": start - width}
    near = _near(key, forward, frontier.past)
    if isinstance(key, str) or width is None:
        return near
    edge = key + width if forward else key - width
    return {**near, ("$lt" if forward else "$gt"): edge}


def _near(key: datetime | str, forward: bool, past: bool) -> dict[str, Any]:
    """The bound at the frontier's key: exclusive once past it, else inclusive, written as
    SecantusDB reads it right (``key_bounds``)."""
    if past:
        return {"$gt" if forward else "$lt": key}
    return inclusive(key, upper=not forward)


def _next_key(segment: Segment, frontier: Frontier, width: timedelta) -> datetime:
    key = frontier.key
    if key is None or isinstance(key, str):
        key = segment.floor if segment.direction == ASCENDING else segment.ceiling
    return key + width if segment.direction == ASCENDING else key - width


def _past_end(segment: Segment, key: datetime, width: timedelta) -> bool:
    if segment.direction == ASCENDING:
        return key + width >= segment.ceiling
    return key - width <= segment.floor


def _seen(item: dict[str, Any], segment: Segment, frontier: Frontier) -> bool:
    """Whether a job of the window at the frontier's own key was on an earlier page."""
    if frontier.key is None or item.get(segment.field) != frontier.key:
        return False
    if frontier.past:
        return True
    if frontier.id is None:
        return False
    if segment.direction == ASCENDING:
        return item["_id"] <= frontier.id
    return item["_id"] >= frontier.id


def _width(segment: Segment, frontier: Frontier, spacing: float,
           wanted: int) -> tuple[float, float, timedelta | None]:  # fmt: skip
    """The next window's width (ms), the gap in it the days' counts say is empty (ms), and
    the width as the window takes it (None: unbounded, to the end)."""
    forward = segment.direction == ASCENDING
    width_ms = max(min(spacing * wanted * 1.5, 1e13), 1.0)
    at = frontier.key or (segment.floor if forward else segment.ceiling)
    gap = 0.0
    if segment.days is not None and isinstance(at, datetime):
        first = FIRST_SPACING_MS * wanted * 1.5
        width_ms, gap = segment.days.fit(at, width_ms, wanted, first, forward)
    width = timedelta(milliseconds=width_ms)
    if isinstance(at, str) or _past_end(segment, at, width):
        return width_ms, gap, None
    return width_ms, gap, width


def _read(collection: Collection, segment: Segment, query: dict[str, Any],
          limit: int) -> tuple[list[dict[str, Any]], Any, int]:  # fmt: skip
    """One window's jobs in order, at most ``limit`` (0: all; MongoDB stops there) but
    never part of one key's jobs: when the limit cuts the window, it ends at the key where
    it was cut, whose jobs are all read (None when it was not cut); and the jobs read."""
    order = [(segment.field, segment.direction), ("_id", segment.direction)]
    documents = list(collection.find(query, projection=WALK_FIELDS).sort(order).limit(limit))
    if not limit or len(documents) < limit:
        return documents, None, len(documents)
    tied = documents[-1][segment.field]
    group = list(collection.find({**segment.base, segment.field: tied},
                                 projection=WALK_FIELDS).sort(order))  # fmt: skip
    kept = [doc for doc in documents if doc[segment.field] != tied]
    return kept + group, tied, len(documents) + len(group)


def read_past(documents: list[dict[str, Any]], last: dict[str, Any]) -> int:
    """How many of a read's ``documents`` come after the page's ``last`` job: they are not
    counted as scanned, since an estimated total (``JobStore._total``) is the page's jobs
    over the jobs scanned, and a read reaches well past a page of a rare match."""
    return len(documents) - 1 - next(i for i, doc in enumerate(documents) if doc is last)


def walk(collection: Collection, segment: Segment, frontier: Frontier, need: int,
         admits: Callable[[dict[str, Any]], bool] | None, budget: int) -> WalkResult:  # fmt: skip
    """Take up to ``need`` jobs of ``segment`` after ``frontier`` that ``admits``
    accepts (None: the index range selects exactly, so each window is read with a limit),
    reading at most about ``budget`` jobs."""
    taken: list[dict[str, Any]] = []
    scanned = 0
    spacing = max(frontier.spacing_ms, 0.001)  # ms per admitted job
    while True:
        wanted = need - len(taken)
        width_ms, gap, width = _width(segment, frontier, spacing, wanted)
        query = dict(segment.base)
        bounds = _window(segment, frontier, width)
        if bounds:
            query[segment.field] = bounds
        limit = 2 * wanted + 1 if admits is None else 0  # exact: read with a limit
        documents, tied, read = _read(collection, segment, query, limit)
        scanned += read
        admitted = [doc for doc in documents if not _seen(doc, segment, frontier)
                    and segment.enabled in (None, doc.get("enabled"))
                    and (admits is None or admits(doc))]  # fmt: skip
        if admitted:  # the gap crossed, where the counts say no job is, is not density
            spacing = max(width_ms - gap, 1.0) / len(admitted)
        elif gap:
            spacing = FIRST_SPACING_MS / MAX_GROWTH  # grows back to the first guess
        if len(admitted) >= wanted:
            taken += admitted[:wanted]
            last = taken[-1]
            scanned -= read_past(documents, last)
            end = replace(frontier, key=last[segment.field], id=last["_id"], spacing_ms=spacing,
                          past=False)
            return WalkResult(taken, end, scanned, True)
        taken += admitted
        if tied is not None:
            frontier = replace(frontier, key=tied, id=None, past=True, spacing_ms=spacing)
            continue
        if width is None:
            return WalkResult(taken, None, scanned, True)
        if not admitted:
            spacing *= MAX_GROWTH
        frontier = replace(frontier, key=_next_key(segment, frontier, width), id=None,
                           spacing_ms=spacing, past=False)  # fmt: skip
        if scanned >= budget:
            return WalkResult(taken, frontier, scanned, False)
