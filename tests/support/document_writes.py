"""Counting the documents a client's writes changed, by collection (a pymongo listener)."""

from __future__ import annotations

import threading
from collections import Counter

from pymongo import monitoring


class DocumentWrites(monitoring.CommandListener):
    """Documents a client's inserts and updates changed, by collection (from the replies:
    ``nModified`` of an update, ``n`` of an insert)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: Counter[str] = Counter()
        self._collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update"):
            with self.lock:
                self._collections[event.request_id] = str(event.command[event.command_name])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self.lock:
            collection = self._collections.pop(event.request_id, None)
            if collection is not None:
                reply = event.reply
                self.written[collection] += int(reply.get("nModified", reply.get("n", 0)))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self.lock:
            self._collections.pop(event.request_id, None)
