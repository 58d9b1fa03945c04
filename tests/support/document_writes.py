"""Counting the documents a client's writes changed, by collection (a pymongo listener)."""

from __future__ import annotations

import threading
from collections import Counter

from pymongo import MongoClient, monitoring

from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.runtime import compose
from scheduler_service.scheduler.scheduler import Scheduler


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


def counted_scheduler(config: Config) -> tuple[DocumentWrites, MongoClient, Scheduler]:
    """A scheduler on a client of its own whose document writes are counted (close the
    client after stopping the scheduler)."""
    writes = DocumentWrites()
    client: MongoClient = MongoClient(config.mongodb_uri, tz_aware=True,
                                      event_listeners=[writes])  # fmt: skip
    scheduler = compose(config, SystemClock(), client.get_default_database(), client,
                        "external").new_scheduler()  # fmt: skip
    return writes, client, scheduler
