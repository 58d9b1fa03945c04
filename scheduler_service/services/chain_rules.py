"""The rules of ``onSuccess``/``onFailure``: every id names another job that exists, and no
chain leads back to where it started (through either list, across jobs), so one tick can
never trigger runs without end.

``find_cycle`` walks the stored lists breadth first, a read per level (``ChainStore.links``),
from the jobs the changed job would trigger, looking for the changed job itself: the graph
without it is acyclic (every write was checked), so a cycle, if any, passes through it.
Two concurrent updates could each pass alone and make a cycle together (no multi-document
transaction is assumed), so the service makes each change that adds to a list hold the
chain lock (``stores/chain_lock.py``) from this check to its write.
"""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId

from scheduler_service.errors import InvalidInput
from scheduler_service.stores.chains import Links

FIELDS = ("onSuccess", "onFailure")
LinksReader = Callable[[list[ObjectId]], dict[ObjectId, Links]]


def find_cycle(start: ObjectId, lists: dict[str, tuple[ObjectId, ...]],
               read: LinksReader) -> tuple[str, list[ObjectId]] | None:  # fmt: skip
    """A chain from ``start`` back to itself, if ``start``'s lists were ``lists``: the list
    its first step goes through and the ids in order (``start`` first and last); else None.
    ``read`` gives the stored lists of the jobs asked for."""
    origin: dict[ObjectId, str] = {}
    came_from: dict[ObjectId, ObjectId] = {}
    frontier: list[ObjectId] = []
    for name in FIELDS:
        for child in lists.get(name, ()):
            if child == start:
                return name, [start, start]
            if child not in origin:
                origin[child], came_from[child] = name, start
                frontier.append(child)
    while frontier:
        stored = read(frontier)
        following: list[ObjectId] = []
        for node in frontier:
            on_success, on_failure = stored.get(node, ((), ()))
            for child in (*on_success, *on_failure):
                if child == start:
                    return origin[node], _path(start, node, came_from)
                if child not in came_from:
                    came_from[child], origin[child] = node, origin[node]
                    following.append(child)
        frontier = following
    return None


def _path(start: ObjectId, last: ObjectId, came_from: dict[ObjectId, ObjectId]) -> list[ObjectId]:
    path = [start, last]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    path.reverse()  # start ... last, then back to start
    return path


def check_links(job_id: ObjectId, lists: dict[str, tuple[ObjectId, ...]], read: LinksReader,
                *, cycles: bool = True) -> None:  # fmt: skip
    """Refuse (``InvalidInput``, naming the field) a list naming the job itself, a job that
    does not exist, or (``cycles``) making a cycle. ``lists``: both of the job's lists as
    they would be."""
    problems: dict[str, list[str]] = {}
    named = [child for name in FIELDS for child in lists.get(name, ())]
    existing = set(read(list(dict.fromkeys(named)))) if named else set()
    for name in FIELDS:
        ids = lists.get(name, ())
        if job_id in ids:
            problems.setdefault(name, []).append(f"A job cannot trigger itself ({job_id}).")
        unknown = [str(child) for child in ids if child != job_id and child not in existing]
        if unknown:
            problems.setdefault(name, []).append(f"No such job: {', '.join(unknown)}.")
    if problems:
        raise InvalidInput(f"Invalid request: check {', '.join(sorted(problems))}",
                           details=problems)  # fmt: skip
    found = find_cycle(job_id, lists, read) if cycles else None
    if found is not None:
        name, path = found
        message = f"Would make a cycle: {' -> '.join(str(node) for node in path)}."
        raise InvalidInput(f"Invalid request: {name} {message[0].lower()}{message[1:]}",
                           details={name: [message]})  # fmt: skip
