"""A fast HTTP target in its own process that answers 200 ``ok`` and logs every request.

For load tests (many ticks a second) where ``HttpTarget`` in the test process would compete
with the test for the GIL, and its listen backlog of 5 drops connection bursts (a dropped
SYN costs a 1 s retransmit, enough to make a tick overlap the next one). An asyncio
HTTP/1.1 server with keep-alive and a backlog of 1024; one line per request::

    <unix time received> <X-Scheduler-Job-Id> <X-Scheduler-Scheduled-At> <Idempotency-Key>

    python -m tests.support.recording_target --port 8080 --out requests.log
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # the target process itself imports nothing of the service
    from tests.support.processes import ProcessGroup, ServiceProcess

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


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
    from tests.support.processes import free_port

    port = free_port()
    command = [sys.executable, "-m", "tests.support.recording_target", "--port", str(port),
               "--out", str(out)]  # fmt: skip
    process = group.start("recording-target", "target", command, dict(os.environ), port=port)
    return process, f"http://127.0.0.1:{port}"


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: IO[str]
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            if length := int(headers.get("content-length") or 0):
                await reader.readexactly(length)
            log.write(
                f"{time.time():.6f} {headers.get('x-scheduler-job-id', '-')} "
                f"{headers.get('x-scheduler-scheduled-at', '-')} "
                f"{headers.get('idempotency-key', '-')}\n"
            )
            writer.write(_OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(port: int, out: Path) -> None:
    loop = asyncio.get_running_loop()
    with out.open("a", buffering=1) as log:  # line-buffered: readers see whole lines
        server = await asyncio.start_server(
            lambda r, w: _connection(r, w, log), "127.0.0.1", port, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a fast HTTP target that logs every request")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
