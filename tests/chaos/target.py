"""The chaos run's HTTP target, in its own process: logs every request and how it answered.

Paths choose the behaviour: ``/fast`` answers 200 at once, ``/slow`` after 0.2-1.5 s (so
attempts are in flight when faults strike), ``/flaky`` answers 500 one time in four (so
AT_LEAST_ONCE retries happen). One line per request, written as it is answered::

    <received> <answered> <job id> <scheduled-at> <attempt> <status> <idempotency key>

(unix times from this process's clock, which is not skewed)

    python -m tests.chaos.target --port 8080 --out requests.log --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

_REASONS = {200: "OK", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Receipt:
    received: float
    answered: float
    job_id: str
    scheduled_at: str
    attempt: int
    status: int
    key: str

    @property
    def scheduled(self) -> datetime:
        return datetime.fromisoformat(self.scheduled_at.replace("Z", "+00:00"))

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def read_receipts(path: Path) -> list[Receipt]:
    try:
        lines = path.read_text().split("\n")[:-1]  # the last piece may be half written
    except FileNotFoundError:
        return []
    receipts = []
    for line in lines:
        received, answered, job_id, scheduled_at, attempt, status, key = line.split(" ")
        receipts.append(Receipt(float(received), float(answered), job_id, scheduled_at,
                                int(attempt), int(status), key))  # fmt: skip
    return receipts


async def _answer(path: str, rng: random.Random) -> int:
    if path.startswith("/slow"):
        await asyncio.sleep(rng.uniform(0.2, 1.5))
    if path.startswith("/flaky") and rng.random() < 0.25:
        return 500
    return 200


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: IO[str], rng: random.Random
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            received = time.time()
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if " " in lines[0] else "/"
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            if length := int(headers.get("content-length") or 0):
                await reader.readexactly(length)
            status = await _answer(path, rng)
            body = b"ok" if status == 200 else b"no"
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d"
                b"\r\n\r\n%s" % (status, _REASONS[status].encode(), len(body), body)
            )
            log.write(
                f"{received:.6f} {time.time():.6f} {headers.get('x-scheduler-job-id', '-')} "
                f"{headers.get('x-scheduler-scheduled-at', '-')} "
                f"{headers.get('x-scheduler-attempt', '0')} {status} "
                f"{headers.get('idempotency-key', '-')}\n"
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(port: int, out: Path, seed: int) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    with out.open("a", buffering=1) as log:
        server = await asyncio.start_server(
            lambda r, w: _connection(r, w, log, rng), "127.0.0.1", port, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the chaos run's logging HTTP target")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.out, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
