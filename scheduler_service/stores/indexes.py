"""Creating a collection's indexes, and dropping the ones an older version made.

Every index costs each write that touches its fields: on the claim path an index on
``nextRunAt`` is rewritten once per tick. Indexes that a newer one makes redundant (a
prefix of it, or a reordering that no query needs) are dropped at start-up, so an existing
database sheds them too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pymongo import IndexModel
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)


def ensure_indexes(
    collection: Collection, wanted: list[IndexModel], superseded: Iterable[str] = ()
) -> None:
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
