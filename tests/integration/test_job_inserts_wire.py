"""Creates from concurrent requests on the real wire server (SecantusDB): those that
arrive while a create is being written go to the database together, in one journaled
``insert_many`` into ``job_catalog`` and one into ``jobs`` (``stores/job_inserts.py``),
each request answered only once its job, its entry and its count are there; a job that
cannot be written fails its own request alone, and is neither catalogued nor counted."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, monitoring
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.db import journaled
from scheduler_service.runtime import compose
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.jobs import JobStore
from tests.integration.test_job_catalog_wire import catalog_matches
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REQUESTS = 12


class Inserts(monitoring.CommandListener):
    """The insert commands sent (collection, documents, write concern); the first insert
    into ``jobs`` is held (in its sending thread) until ``release``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, dict[str, Any]]] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name != "insert":
            return
        command = event.command
        self.sent.append((command["insert"], len(command.get("documents", [])),
                          dict(command.get("writeConcern") or {})))  # fmt: skip
        if command["insert"] == "jobs" and not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(10)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def watched(wire_server: str) -> Iterator[tuple[Database, Inserts]]:
    inserts = Inserts()
    client: MongoClient = MongoClient(wire_server, tz_aware=True, event_listeners=[inserts])
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield client[name], inserts
    client.drop_database(name)
    client.close()


def service(database: Database) -> JobService:
    config = Config(scheduler_enabled=False, allow_private_targets=True)
    return compose(config, SystemClock(), database, None, "injected").job_service


def payload(n: int) -> dict[str, Any]:
    return {"schedule": "0 0 * * * *", "endpoint": f"http://127.0.0.1:9/hook/{n}",
            "name": f"job {n}", "tags": ["grouped", f"n{n % 3}"]}  # fmt: skip


def test_concurrent_creates_share_one_journaled_insert_of_jobs_and_one_of_entries(
    watched: tuple[Database, Inserts],
) -> None:
    database, inserts = watched
    jobs = service(database)
    found_when_answered: dict[int, tuple[int, int]] = {}

    def create(n: int) -> None:
        jobs.create(payload(n))
        found_when_answered[n] = (database["jobs"].count_documents({"name": f"job {n}"}),
                                  database["job_catalog"].count_documents({"name": f"job {n}"}))

    first = threading.Thread(target=create, args=(0,))
    first.start()
    assert inserts.holding.wait(10)  # the first create's insert is on its way, held
    others = [threading.Thread(target=create, args=(n,)) for n in range(1, REQUESTS)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(jobs.jobs.inserts._queue) == REQUESTS - 1, timeout_s=10,
               message="every other create queued behind the first")  # fmt: skip
    inserts.release.set()
    for thread in [first, *others]:
        thread.join(10)
    # Each answered only once its job and its catalog entry were in the database.
    assert found_when_answered == dict.fromkeys(range(REQUESTS), (1, 1))
    assert [(name, count) for name, count, _ in inserts.sent] == [  # each entry first
        ("job_catalog", 1), ("jobs", 1), ("job_catalog", REQUESTS - 1), ("jobs", REQUESTS - 1)]
    assert all(concern.get("j") is True for name, _, concern in inserts.sent if name == "jobs")
    assert catalog_matches(database)
    counts = jobs.jobs.counts_store.read()
    assert counts is not None
    assert (counts.total, counts.enabled, counts.tagged("grouped")) == (REQUESTS,) * 3
    assert [counts.tagged(f"n{k}") for k in range(3)] == [4, 4, 4]


def test_a_job_that_cannot_be_written_fails_alone_and_is_neither_listed_nor_counted(
    wire_db: Database,
) -> None:
    store = JobStore(journaled(wire_db))
    taken = {"_id": "taken", "enabled": True, "tags": ["x"]}
    wire_db["jobs"].insert_one(dict(taken))
    write = store.inserts._write
    documents = [{"_id": f"new-{n}", "enabled": True, "tags": ["x"], "name": f"n{n}"}
                 for n in range(3)]  # fmt: skip
    errors = write([documents[0], dict(taken), *documents[1:]])
    assert errors[0] is None and errors[2] is None and errors[3] is None
    assert isinstance(errors[1], DuplicateKeyError)
    assert {doc["_id"] for doc in wire_db["job_catalog"].find()} == {"new-0", "new-1", "new-2"}
    counts = store.counts_store.read()
    assert counts is not None and (counts.total, counts.tagged("x")) == (3, 3)
