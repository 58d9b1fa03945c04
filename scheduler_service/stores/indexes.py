"""Creating a collection's indexes, and dropping the ones an older version made.

Every index costs each write that touches its fields: on the claim path an index on
``nextRunAt`` is rewritten once per tick. Indexes that a newer one makes redundant (a
prefix of it, or a reordering that no query needs) are dropped at start-up, so an existing
database sheds them too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pymongo import DESCENDING, IndexModel
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)


def ensure_indexes(
    collection: Collection, wanted: list[IndexModel], superseded: Iterable[str] = ()
) -> None:
    if wanted:
        collection.create_indexes(wanted)
    present = set(collection.index_information())
    for name in superseded:
        if name not in present:
            continue
        try:
            collection.drop_index(name)
        except OperationFailure as exc:  # another process dropped it first
            if exc.code != 27:  # IndexNotFound
                raise
            continue
        log.info("dropped the superseded index %s.%s", collection.name, name)


def ensure_ttl_index(collection: Collection, name: str, field: str, days: int) -> None:
    """A descending index on ``field`` that is a TTL index of ``days`` when ``days`` > 0:
    MongoDB then deletes documents whose ``field`` is older (a background task, about once
    a minute). A changed setting is applied in place with ``collMod``; 0 keeps all."""
    wanted = days * 86400 if days > 0 else None
    current = collection.index_information().get(name)
    if current is not None and current.get("expireAfterSeconds") == wanted:
        return
    if current is not None and wanted is not None and "expireAfterSeconds" in current:
        collection.database.command(
            "collMod", collection.name, index={"name": name, "expireAfterSeconds": wanted}
        )
        return
    if current is not None:
        collection.drop_index(name)
    options = {} if wanted is None else {"expireAfterSeconds": wanted}
    try:
        collection.create_index([(field, DESCENDING)], name=name, **options)
    except OperationFailure:  # another process just made it; fine if it matches
        made = collection.index_information().get(name, {})
        if made.get("expireAfterSeconds") != wanted:
            raise
