"""What one claim or release costs SecantusDB with each set of indexes on ``jobs``.

    .venv/bin/python -m bench.index_cost [--jobs 500] [--writes 4000] [--rounds 2]

SecantusDB rewrites every index entry of a document on each update, whatever the update
changed (sparse and partial indexes only for the documents they cover). So each index on
``jobs`` costs every claim and every release. Per index set: ``--jobs`` job documents shaped
by the service (``bench/jobs.py``), then ``--writes`` single-document writes alternating a
claim (``$set`` of the next tick, lastRunAt and claimedBy, ``$push`` of an entry) and its
release (``$pull`` of it), one job after another. Prints the server's CPU (its process's
user + system time) and the wall time per write. The sets are measured in turn, round after
round, on one fresh server, so that the machine's load falls on each alike.

- ``before``: the indexes ``jobs`` carried before the list moved to ``job_catalog``;
- ``now``: ``stores/jobs.py``'s ``INDEXES``;
- ``now+enabled``: those and ``enabled_1_createdAt_-1__id_-1`` (the enabled filter's
  list index, had it stayed on ``jobs``);
- ``none``: no secondary index.
Not run in CI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.collection import Collection

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import jobs  # noqa: E402
from bench.procs import Children, cpu_seconds, free_port, wait_port  # noqa: E402
from scheduler_service.embedded_db import embedded_uri, server_command  # noqa: E402
from scheduler_service.stores.job_catalog import INDEXES as CATALOG_INDEXES  # noqa: E402
from scheduler_service.stores.jobs import INDEXES  # noqa: E402

ENABLED_LIST = IndexModel([("enabled", ASCENDING), ("createdAt", DESCENDING),
                           ("_id", DESCENDING)], name="enabled_1_createdAt_-1__id_-1")  # fmt: skip
# What ``jobs`` carried before: its indexes now, and the catalog's.
BEFORE = [*INDEXES, *CATALOG_INDEXES]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def index_sets() -> dict[str, list[IndexModel]]:
    return {"before": BEFORE, "now": list(INDEXES), "now+enabled": [*INDEXES, ENABLED_LIST],
            "none": []}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--writes", type=int, default=4000, help="per set and round")
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="index-cost-"))
    children = Children(work)
    try:
        port = free_port()
        server = children.start("secantus", server_command(work / "db", port))
        wait_port(port, server, 60)
        client = MongoClient(embedded_uri(port, "indexcost"), tz_aware=True)
        database = client.get_default_database()
        base = jobs.template(jobs.NEVER_AGAIN, "http://127.0.0.1:9/tick")
        sets = index_sets()
        ids: dict[str, list[ObjectId]] = {}
        for name, models in sets.items():
            collection = database[f"jobs_{name}"]
            if models:
                collection.create_indexes(models)
            made = list(jobs.documents(base, [T0] * args.jobs))
            for n, document in enumerate(made):
                document["name"] = f"job-{n}"
                document["createdAt"] = T0 + timedelta(milliseconds=n)
            ids[name] = collection.insert_many(made).inserted_ids
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sets}
        for _ in range(args.rounds):
            for name in sets:
                figures[name].append(measure(database[f"jobs_{name}"], ids[name], args.writes,
                                             server.process.pid))  # fmt: skip
        for name, runs in figures.items():
            cpu = [run[0] for run in runs]
            wall = [run[1] for run in runs]
            print(f"{name:12} {len(sets[name]):2} indexes: server CPU "
                  f"{statistics.median(cpu):.2f} ms/write ({', '.join(f'{c:.2f}' for c in cpu)}), "
                  f"wall {statistics.median(wall):.2f} ms/write", flush=True)  # fmt: skip
        client.close()
    finally:
        children.stop_all()
    return 0


def measure(collection: Collection, job_ids: list[ObjectId], writes: int,
            pid: int) -> tuple[float, float]:  # fmt: skip
    """Alternate claims and releases over the jobs; server CPU and wall ms per write."""
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for n in range(writes // 2):
        job_id = job_ids[n % len(job_ids)]
        entry = ObjectId()
        due = T0 + timedelta(seconds=n)
        collection.update_one({"_id": job_id}, {
            "$set": {"nextRunAt": due + timedelta(seconds=1), "nextTickAt": due,
                     "lastRunAt": due, "claimedBy": "bench"},
            "$push": {"inflight": {"id": entry, "state": "running", "dueAt": due,
                                   "owner": "bench", "attempt": 1}}})  # fmt: skip
        collection.update_one({"_id": job_id}, {"$pull": {"inflight": {"id": entry}}})
    done = (writes // 2) * 2
    return ((cpu_seconds(pid) - cpu0) * 1000 / done,
            (time.perf_counter() - t0) * 1000 / done)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
