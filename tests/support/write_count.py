"""The writes a test's database receives, counted by patching its collection class (the
unit tests' mongomock): for tests that say how many writes something costs."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

WRITES = ("insert_one", "insert_many", "update_one", "update_many", "replace_one",
          "delete_one", "delete_many", "find_one_and_update", "bulk_write")  # fmt: skip


def count_writes(monkeypatch: pytest.MonkeyPatch, database: Database) -> list[str]:
    """From now on, the collection name of every write call on ``database`` (any
    collection of its class), in order; the test may clear the list."""
    writes: list[str] = []
    collection_type = type(database.jobs)
    for name in WRITES:
        original = getattr(collection_type, name)

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            writes.append(self.name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(collection_type, name, counted)
    return writes
