"""One buffer of pending writes per client and collection in this process, whatever the
store instance (the API's and the scheduler's share it), flushed when the process exits:
``job_counts.PendingCounts``, ``catalog_disables.PendingDisables``."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from pymongo.collection import Collection

T = TypeVar("T")


class PerCollection(Generic[T]):
    def __init__(self, make: Callable[[Collection], T], at_exit: Callable[[T], None]) -> None:
        self._make = make
        self._at_exit = at_exit
        self._made: dict[tuple[int, str], T] = {}
        self._lock = threading.Lock()

    def __call__(self, collection: Collection) -> T:
        """``collection``'s buffer, made (and ``at_exit`` registered for it) on first use."""
        key = (id(collection.database.client), collection.full_name)
        with self._lock:
            if key not in self._made:
                self._made[key] = made = self._make(collection)
                atexit.register(self._at_exit, made)
            return self._made[key]
