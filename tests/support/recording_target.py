"""A fast HTTP target in its own process that answers 200 ``ok`` and logs every request.

For load tests (many ticks a second) where ``HttpTarget`` in the test process would compete
with the test for the GIL, and its listen backlog of 5 drops connection bursts (a dropped
SYN costs a 1 s retransmit, enough to make a tick overlap the next one). The asyncio
server of ``tests.support.logging_server``, keep-alive and a backlog of 1024; one line per
request::

    <unix time received> <X-Scheduler-Job-Id> <X-Scheduler-Scheduled-At> <Idempotency-Key>

    python -m tests.support.recording_target --port 8080 --out requests.log
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.logging_server import serve

if TYPE_CHECKING:  # the target process itself imports nothing of the service
    from tests.support.processes import ProcessGroup
from tests.support.service_process import ServiceProcess


@dataclass(frozen=True)
class Record:
    received: float  # unix time
    job_id: str
    scheduled_at: str  # as sent: ISO 8601 UTC with milliseconds
    key: str

    @property
    def scheduled(self) -> datetime:
        return datetime.fromisoformat(self.scheduled_at.replace("Z", "+00:00"))


def read_records(path: Path) -> list[Record]:
    """Every complete line logged so far."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the last piece is empty or a line still being written
    records = []
    for line in lines:
        received, job_id, scheduled_at, key = line.split(" ")
        records.append(Record(float(received), job_id, scheduled_at, key))
    return records


def start_recording_target(group: ProcessGroup, out: Path) -> tuple[ServiceProcess, str]:
    """Start the target as one of ``group``'s processes; return it and its base URL."""
    from tests.support.ports import free_port

    port = free_port()
    command = [sys.executable, "-m", "tests.support.recording_target", "--port", str(port),
               "--out", str(out)]  # fmt: skip
    process = group.start("recording-target", "target", command, dict(os.environ), port=port)
    return process, f"http://127.0.0.1:{port}"


async def _respond(path: str, headers: dict[str, str], received: float) -> tuple[int, str]:
    return 200, (f"{received:.6f} {headers.get('x-scheduler-job-id', '-')} "
                 f"{headers.get('x-scheduler-scheduled-at', '-')} "
                 f"{headers.get('idempotency-key', '-')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a fast HTTP target that logs every request")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.out, _respond)
    return 0


if __name__ == "__main__":
    sys.exit(main())
