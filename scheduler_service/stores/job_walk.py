"""The walk of an order read between fences (``job_fences``): ``walk_fenced``, and
``walk_segments``, which walks an order's segments, each in windows (``job_pages``) or
between fences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection

from scheduler_service.stores.job_fences import HIGHEST, LOWEST, Fences, Position, ranges
from scheduler_service.stores.job_pages import (
    WALK_FIELDS,
    Frontier,
    Segment,
    WalkResult,
    read_past,
    walk,
)
from scheduler_service.stores.job_samples import RATIO

MAX_AHEAD = 64  # level-1 fences one read may cross (a filter admitting few jobs)


def _read(collection: Collection, segment: Segment, fences: Fences, frontier: Frontier,
          fence: Position | None, whole: bool) -> list[dict[str, Any]]:  # fmt: skip
    """The jobs after ``frontier`` up to and including ``fence``, in the walk's order."""
    field = segment.field
    documents: list[dict[str, Any]] = []
    for query in ranges(segment, segment.base, frontier, fence, fences.heavy):
        documents += collection.find(query, projection=None if whole else WALK_FIELDS,
                                     batch_size=1000)
    start = _position(segment, frontier)
    low = None if start is None else fences.rank(start)
    high = None if fence is None else fences.rank(fence)
    kept = []
    for doc in documents:
        if doc.get(field) is None:
            continue
        rank = fences.rank((doc[field], doc["_id"]))
        if (low is None or rank > low) and (high is None or not rank > high):
            kept.append(doc)
    kept.sort(key=lambda doc: fences.rank((doc[field], doc["_id"])))
    return kept


def _position(segment: Segment, frontier: Frontier) -> Position | None:
    """The place a frontier stands at (without an ``_id``: before every job of its key,
    or after all of them when ``past``)."""
    if frontier.key is None:
        return None
    if frontier.id is not None:
        return frontier.key, frontier.id
    before = not frontier.past
    return frontier.key, LOWEST if before == (segment.direction == ASCENDING) else HIGHEST


def walk_fenced(collection: Collection, segment: Segment, frontier: Frontier, need: int,
                admits: Callable[[dict[str, Any]], bool] | None,
                budget: int) -> WalkResult:  # fmt: skip
    """``job_pages.walk`` for a segment read between fences. Without ``admits`` (the
    index range selects exactly) the jobs are read whole: the page needs no second read."""
    fences = Fences(collection, segment, _position(segment, frontier))
    taken: list[dict[str, Any]] = []
    scanned = 0
    share = 1.0  # of the jobs read, the part admitted: how far ahead the next fence is
    while True:
        wanted = need - len(taken)
        # One fence more than the page wants on average: fences fall at random, and a
        # page short of jobs costs another round of reads.
        ahead = min(math.ceil(wanted / (RATIO * share)) + 1, MAX_AHEAD)
        fence = fences.ahead(_position(segment, frontier), ahead)
        documents = _read(collection, segment, fences, frontier, fence, admits is None)
        scanned += len(documents)
        admitted = [doc for doc in documents
                    if segment.enabled in (None, doc.get("enabled"))
                    and (admits is None or admits(doc))]  # fmt: skip
        if documents:
            share = max(len(admitted) / len(documents), 1 / MAX_AHEAD)
        if len(admitted) >= wanted:
            taken += admitted[:wanted]
            last = taken[-1]
            scanned -= read_past(documents, last)
            end = Frontier(segment=frontier.segment, key=last[segment.field], id=last["_id"])
            return WalkResult(taken, end, scanned, True)
        taken += admitted
        if fence is None:
            return WalkResult(taken, None, scanned, True)
        frontier = Frontier(segment=frontier.segment, key=fence[0], id=fence[1])
        if scanned >= budget:
            return WalkResult(taken, frontier, scanned, False)


def from_catalog(segment: Segment) -> bool:
    """Whether a walk reads the segment from ``job_catalog`` (all but the enabled jobs by
    ``nextRunAt``, read on the poller's index of ``jobs``)."""
    return segment.field != "nextRunAt"


def walk_segments(catalog: Collection, jobs: Collection, segments: list[Segment],
                  frontier: Frontier, need: int, admits: Callable[[dict[str, Any]], bool],
                  budget: int) -> WalkResult:  # fmt: skip
    """A walk across the order's segments, from ``frontier.segment`` on (``admits`` is
    asked only where a segment's index range does not select exactly): by ``nextRunAt``
    on ``jobs`` (the poller's index), by anything else on ``job_catalog``."""
    taken: list[dict[str, Any]] = []
    sources: list[Segment] = []
    scanned = 0
    while frontier.segment < len(segments):
        segment = segments[frontier.segment]
        check = None if segment.exact else admits
        step = walk_fenced if segment.fenced else walk
        collection = catalog if from_catalog(segment) else jobs
        result = step(collection, segment, frontier, need - len(taken), check,
                      budget - scanned)  # fmt: skip
        taken += result.items
        sources += [segment] * len(result.items)
        scanned += result.scanned
        if result.frontier is not None:
            return WalkResult(taken, result.frontier, scanned, result.complete, sources)
        frontier = Frontier(segment=frontier.segment + 1, spacing_ms=frontier.spacing_ms)
    return WalkResult(taken, None, scanned, True, sources)
