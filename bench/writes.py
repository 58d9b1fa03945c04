"""Counting database work: commands and documents written (driver side), and opcounters.

- ``CommandCounter``: a pymongo ``CommandListener`` registered in a process before its
  ``MongoClient`` is made (the service's in ``bench/service.py``, APScheduler's in
  ``bench/peer.py``). It counts every command (a round trip), by ``command collection``,
  and the documents each write actually wrote, from the server's reply: ``n`` of an
  insert or a delete, ``nModified`` plus the upserts of an update, one for a
  findAndModify that updated, upserted or removed a document.
- ``opcounters()``: ``serverStatus().opcounters`` of the whole server; ``write_ops()`` sums
  insert + update + delete between two of them. SecantusDB counts one per write *command*
  (an ``update_many`` of 32 jobs or an ``insert_many`` of 32 records is one); mongod counts
  inserts per document and updates and deletes per statement. So the bench reports both
  figures, and a target on document writes is judged on the documents.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from pymongo import MongoClient, monitoring

WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify", "findandmodify"})


def documents_written(command_name: str, reply: Any) -> int:
    """Documents a write command wrote, from its reply (0 for anything else)."""
    if command_name not in WRITE_COMMANDS or not isinstance(reply, dict):
        return 0
    if command_name in ("insert", "delete"):
        return int(reply.get("n", 0))
    if command_name == "update":
        return int(reply.get("nModified", 0)) + len(reply.get("upserted") or [])
    last = reply.get("lastErrorObject") or {}  # findAndModify: n is 1 if it wrote one
    return int(last.get("n", 1 if reply.get("value") is not None else 0))


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.failures = 0
        self.documents = 0
        self.write_commands = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        key = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        with self._lock:
            self.counts[key] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        written = documents_written(event.command_name, event.reply)
        if event.command_name in WRITE_COMMANDS:
            with self._lock:
                self.write_commands += 1
                self.documents += written

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self.failures += 1

    def take(self, reset: bool) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
            figures = {"commands": counts, "total": sum(counts.values()),
                       "failed": self.failures, "documentsWritten": self.documents,
                       "writeCommands": self.write_commands}  # fmt: skip
            if reset:
                self.counts.clear()
                self.failures = self.documents = self.write_commands = 0
        return figures


def opcounters(client: MongoClient) -> dict[str, int]:
    return dict(client.admin.command("serverStatus")["opcounters"])


def write_ops(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(after[k] - before[k] for k in ("insert", "update", "delete"))


def per(count: float, executions: int, digits: int = 2) -> float | None:
    return round(count / executions, digits) if executions else None
