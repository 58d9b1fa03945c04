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
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.support.logging_server import Respond, serve


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


def _responder(rng: random.Random) -> Respond:
    async def respond(path: str, headers: dict[str, str], received: float) -> tuple[int, str]:
        if path.startswith("/slow"):
            await asyncio.sleep(rng.uniform(0.2, 1.5))
        status = 500 if path.startswith("/flaky") and rng.random() < 0.25 else 200
        return status, (
            f"{received:.6f} {time.time():.6f} {headers.get('x-scheduler-job-id', '-')} "
            f"{headers.get('x-scheduler-scheduled-at', '-')} "
            f"{headers.get('x-scheduler-attempt', '0')} {status} "
            f"{headers.get('idempotency-key', '-')}"
        )

    return respond


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the chaos run's logging HTTP target")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    serve(args.port, args.out, _responder(random.Random(args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
