"""The service under test, in its own process: ``open_runtime()`` with its scheduler running.

Configured by environment variables like the real service (``MONGODB_URI`` names the
bench's database). Before the app is built a pymongo ``CommandListener`` is registered
globally, so it is attached to the service's own ``MongoClient`` and counts every command
(round trip) the service sends. Controlled over stdin, one command a line; each reply is
one stdout line ``= {json}``:

- ``reset``: zero the command counts;
- ``counts``: the counts since the last reset, by ``command collection``;
- ``rss``: this process's resident memory (KiB) and thread count;
- ``stop``: stop the scheduler gracefully and exit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path

from pymongo import monitoring


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.failures = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        key = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        with self._lock:
            self.counts[key] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self.failures += 1

    def take(self, reset: bool) -> dict[str, object]:
        with self._lock:
            counts = dict(self.counts)
            failed = self.failures
            if reset:
                self.counts.clear()
                self.failures = 0
        return {"commands": counts, "total": sum(counts.values()), "failed": failed}


def _rss() -> dict[str, int]:
    status = Path("/proc/self/status").read_text().splitlines()
    values = dict(line.split(":", 1) for line in status if ":" in line)
    return {"rssKiB": int(values["VmRSS"].split()[0]), "threads": int(values["Threads"])}


def _reply(value: object) -> None:
    sys.stdout.write("= " + json.dumps(value) + "\n")
    sys.stdout.flush()


def main() -> None:
    counter = CommandCounter()
    monitoring.register(counter)

    from scheduler_service.config import Config
    from scheduler_service.runtime import open_runtime

    runtime = open_runtime(Config.from_env())
    if runtime.config.scheduler_enabled:
        runtime.start_scheduler()
    sys.stdout.write(f"ready {os.getpid()}\n")
    sys.stdout.flush()
    for line in sys.stdin:
        command = line.strip()
        if command == "reset":
            _reply(counter.take(reset=True))
        elif command == "counts":
            _reply(counter.take(reset=False))
        elif command == "rss":
            _reply(_rss())
        elif command == "stop":
            runtime.close()
            _reply({"stopped": True})
            break
        else:
            _reply({"error": f"unknown command {command!r}"})
    else:  # stdin closed: the bench went away
        runtime.close()


if __name__ == "__main__":
    main()
