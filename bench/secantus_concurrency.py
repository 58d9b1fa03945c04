"""What one tick's writes cost SecantusDB, with 1 to N clients writing at once.

    .venv/bin/python -m bench.secantus_concurrency [--clients 1,2,3,6] [--seconds 15]

Every tick of an every-second job makes the same writes (the store code the scheduler
uses, without the scheduler, the HTTP target or polls): claim the tick (``claim_ticks``,
``--claim-batch`` jobs in one ``update_many``), write the attempts' records
(``record_many``), release the tick (``drop_entries``). Each client plays one scheduler
process with its share of ``--jobs`` jobs, one second of ticks after another, as fast as
the server answers. Prints, per client count, the ticks a second and the server's CPU per
tick (its process's user + system time).
A fresh server per client count. Not run in CI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.procs import Children, cpu_seconds, free_port, wait_port  # noqa: E402
from scheduler_service.embedded_db import embedded_uri, server_command  # noqa: E402
from scheduler_service.records import Entry, ExecutionRecord, Job  # noqa: E402
from scheduler_service.stores.executions import ExecutionStore  # noqa: E402
from scheduler_service.stores.jobs import JobStore  # noqa: E402
from scheduler_service.stores.ticks import TickStore  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
RESULT = {"success": True, "duration": 3, "response_code": 200, "response_body": "ok",
          "error_message": None}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,2,3,6", help="client counts to measure")
    parser.add_argument("--jobs", type=int, default=200, help="every-second jobs in all")
    parser.add_argument("--seconds", type=int, default=15, help="seconds of ticks per client")
    parser.add_argument("--claim-batch", type=int, default=20, help="jobs claimed per write")
    parser.add_argument("--write-batch", type=int, default=4, help="records per bulk write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="secantus-concurrency-"))
    children = Children(work)
    try:
        for clients in (int(n) for n in args.clients.split(",")):
            ticks_per_s, cpu_ms = measure(children, work / f"db-{clients}", clients, args)
            print(f"clients {clients}: {ticks_per_s:6.0f} ticks/s, "
                  f"server CPU {cpu_ms:.2f} ms per tick", flush=True)  # fmt: skip
    finally:
        children.stop_all()
    return 0


def measure(
    children: Children, storage: Path, clients: int, args: argparse.Namespace
) -> tuple[float, float]:
    port = free_port()
    server = children.start(f"secantus-{clients}", server_command(storage, port))
    wait_port(port, server, 60)
    uri = embedded_uri(port, "bench")
    setup = MongoClient(uri, tz_aware=True)
    database = setup.get_default_database()
    JobStore(database).ensure_indexes()
    ExecutionStore(database).ensure_indexes(30)
    job_ids = database.jobs.insert_many([job(n) for n in range(args.jobs)]).inserted_ids
    shares = [job_ids[n::clients] for n in range(clients)]
    threads = [
        threading.Thread(target=play, args=(uri, share, args), name=f"client-{n}")
        for n, share in enumerate(shares)
    ]
    cpu_before, started = cpu_seconds(server.process.pid), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    setup.close()
    children.stop(server)
    ticks = args.jobs * args.seconds
    return ticks / elapsed, cpu * 1000 / ticks


def play(uri: str, job_ids: list[ObjectId], args: argparse.Namespace) -> None:
    """One scheduler process's writes for its jobs, second after second."""
    client = MongoClient(uri, tz_aware=True)
    database = client.get_default_database()
    ticks, executions = TickStore(database), ExecutionStore(database)
    for second in range(args.seconds):
        due = T0 + second * SECOND
        for start in range(0, len(job_ids), args.claim_batch):
            batch = [as_polled(job_id, due) for job_id in job_ids[start : start + args.claim_batch]]
            entry = Entry.scheduled(due, owner="bench", now=due, lease=60 * SECOND)
            won = ticks.claim_ticks(batch, entry, due + SECOND, forbid_overlap=True, started_at=due)
            won_ids = [job_id for job_id in job_ids if job_id in won]
            for group in chunks(won_ids, args.write_batch):
                ended = ExecutionRecord.ended
                executions.record_many([ended(j, entry, due, completed_at=due, **RESULT)
                                        for j in group])  # fmt: skip
            ticks.drop_entries([(job_id, entry.id) for job_id in won_ids], "bench")
    client.close()


def job(n: int) -> dict[str, Any]:
    return {
        "name": f"bench-{n}", "schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/tick",
        "method": "POST", "headers": {}, "body": {"n": n}, "executionType": "AT_LEAST_ONCE",
        "enabled": True, "retryAttempts": 3, "retryDelay": 1000, "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE", "nextRunAt": T0, "lastRunAt": None, "createdAt": T0,
        "updatedAt": T0, "inflight": [], "skippedTicks": 0,
    }  # fmt: skip


def as_polled(job_id: ObjectId, due: datetime) -> Job:
    """The job as a poll would have seen it before the claim of tick ``due``."""
    return Job.from_document({"_id": job_id, "nextRunAt": due, "updatedAt": T0})


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


if __name__ == "__main__":
    sys.exit(main())
