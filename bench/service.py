"""The service under test, in its own process: ``open_runtime()`` with its scheduler running.

Configured by environment variables like the real service (``MONGODB_URI`` names the
bench's database). Before the app is built a pymongo ``CommandListener`` is registered
globally, so it is attached to the service's own ``MongoClient`` and counts every command
(round trip) the service sends. Controlled over stdin, one command a line; each reply is
one stdout line ``= {json}``:

- ``reset``: zero the command counts;
- ``counts``: the counts since the last reset, by ``command collection``, and the
  documents written (``bench/writes.py``);
- ``rss``: this process's resident memory (KiB) and thread count;
- ``stop``: stop the scheduler gracefully and exit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pymongo import monitoring

from bench.writes import CommandCounter


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

    if os.environ.get("BENCH_TRACE"):
        from bench import trace

        trace.install(os.environ["BENCH_TRACE"])
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
