"""Pages by ``name`` or ``nextRunAt``, read between *fences*: sampled jobs
(``job_samples``) whose place in the order is known before a read, so that each read
holds about as many jobs as the page wants, however the keys spread and however many
jobs share one key.

Why: SecantusDB reads every job an index range selects before it sorts and limits, and
nothing counts how names or next runs spread (``nextRunAt`` moves at every tick), so
these orders have no window width to take (``job_pages``): measured at 100,000 jobs, the
5,000 jobs sharing one ``nextRunAt`` cost 0.7-1 s to read, all jobs past the 4 s deadline.

1 job in 16 is a fence of level 1, 1 in 256 of level 2, 1 in 4,096 of
level 3, each in a partial index of the order (``sample_1_name_1__id_1``,
``sample_1_enabled_1_nextRunAt_1__id_1``). A walk reads the top level's fences of its
order (1 job in 4,096), then each lower level's between its frontier and the next fence of
the level above (about 16 each), then the jobs between its frontier and the level-1
fence as far ahead as the page still wants, by ``(key, _id)``. A key that many jobs share
holds fences of its own: it is read in pieces by ``_id`` (``key = k`` and an ``_id``
range, on ``name_1__id_1`` or ``enabled_1_nextRunAt_1__id_1``).

Each read is exact on its own (the keyset ``(key, _id)`` decides what a page holds);
fences only bound what a read costs. A job without its mark (written around the API
until ``jobs recount`` marks it) makes a read longer, never a page wrong. On MongoDB the
same reads are index walks costing the jobs they return.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.collection import Collection

from scheduler_service.stores.job_pages import Frontier, Segment
from scheduler_service.stores.job_samples import FIELD, LEVELS
from scheduler_service.stores.key_bounds import after, inclusive

Position = tuple[Any, ObjectId]  # (key, _id): a place in the order
LOWEST, HIGHEST = ObjectId(b"\x00" * 12), ObjectId(b"\xff" * 12)


class _Reversed:
    """A position in a descending walk: compares the other way."""

    __slots__ = ("value",)

    def __init__(self, value: Position) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Reversed) -> bool:
        return other.value > self.value


class Fences:
    """The fences of one walk's order, each level read as the walk reaches it."""

    def __init__(self, collection: Collection, segment: Segment, start: Position | None) -> None:
        self.collection = collection
        self.segment = segment
        self.forward = segment.direction == ASCENDING
        # Per level (index 1..LEVELS): the fences read, in walk order, from the walk's
        # start (the top level: from the order's) up to read_to.
        self.fences: list[list[Position]] = [[] for _ in range(LEVELS + 1)]
        self.read_to: list[Position | None] = [start] * (LEVELS + 1)
        self.done = [False] * (LEVELS + 1)  # every fence of the level is read

    def rank(self, position: Position) -> Any:
        return position if self.forward else _Reversed(position)

    def ahead(self, position: Position | None, count: int, level: int = 1) -> Position | None:
        """The ``count``-th fence of ``level`` after ``position`` (None: the start), or the
        last one there is; None when none is after it."""
        fences = self.fences[level]
        while True:
            ranks = [self.rank(p) for p in fences]
            i = 0 if position is None else bisect_right(ranks, self.rank(position))
            if len(fences) - i >= count or self.done[level]:
                return fences[min(i + count, len(fences)) - 1] if i < len(fences) else None
            self._read(level)

    def heavy(self, key: Any, level: int = 1) -> bool:
        """Whether two fences of ``level`` read hold ``key``: about ``RATIO ** level``
        jobs or more share it, so it is read by ``_id``."""
        return sum(1 for p in self.fences[level] if p[0] == key) >= 2

    def _read(self, level: int) -> None:
        """The level's fences after ``read_to`` up to the next fence of the level above
        (itself one), or all of them at the top."""
        start = self.read_to[level]
        if level == LEVELS:
            start = None
        stop = None if level == LEVELS else self.ahead(start, 1, level + 1)
        base = {FIELD: level, **self.segment.base}
        begin = Frontier() if start is None else Frontier(key=start[0], id=start[1])
        positions = []
        for query in ranges(self.segment, base, begin, stop,
                             lambda key: level < LEVELS and self.heavy(key, level + 1)):
            found = self.collection.find(query, projection=[self.segment.field])
            positions += [(doc.get(self.segment.field), doc["_id"]) for doc in found]
        fences = [p for p in positions if p[0] is not None
                  and (start is None or self.rank(p) > self.rank(start))
                  and (stop is None or self.rank(p) < self.rank(stop))]  # fmt: skip
        fences.sort(key=self.rank)
        self.fences[level] += fences + ([stop] if stop is not None else [])
        self.read_to[level] = stop
        self.done[level] = stop is None


def ranges(segment: Segment, base: dict[str, Any], start: Frontier, fence: Position | None,
           heavy: Callable[[Any], bool]) -> list[dict[str, Any]]:  # fmt: skip
    """The reads of the jobs ``base`` selects after ``start`` up to ``fence`` (None: the
    end): one key range, and apart the start's or the fence's key where ``heavy`` says
    many jobs share it (by ``_id``, so that a read of it is bounded too), and always the
    start's when it stands inside its key."""
    field = segment.field
    forward = segment.direction == ASCENDING
    key = start.key
    if key is not None and fence is not None and fence[0] == key:  # inside one key
        ids = {"$lte" if forward else "$gte": fence[1]}
        if start.id is not None:
            ids["$gt" if forward else "$lt"] = start.id
        return [{field: key, "_id": ids, **base}]
    queries = []
    near: dict[str, Any] = {}  # the range's bound on the start's side
    if key is not None:  # mid-key: its other jobs before the start are not read again
        apart = start.past or start.id is not None or heavy(key)
        if apart and not start.past:
            ids = {} if start.id is None else {"_id": {"$gt" if forward else "$lt": start.id}}
            queries.append({field: key, **ids, **base})
        if forward:
            near = {"$gte": after(key) if apart else key}  # ``> key`` (``key_bounds``)
        else:
            near = {"$lt": key} if apart else inclusive(key, upper=True)
    far: dict[str, Any] = {}  # and on the fence's
    if fence is not None:
        apart = heavy(fence[0])
        if apart:
            queries.append({field: fence[0], "_id": {"$lte" if forward else "$gte": fence[1]},
                            **base})  # fmt: skip
        if forward:
            far = {"$lt": fence[0]} if apart else inclusive(fence[0], upper=True)
        else:
            far = {"$gte": after(fence[0]) if apart else fence[0]}
    bounds = {**near, **far}
    queries.insert(0, {field: bounds, **base} if bounds else dict(base))
    return queries
