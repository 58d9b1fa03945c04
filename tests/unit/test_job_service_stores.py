"""``JobService`` works with the chain store and chain lock it is given, as with its other
stores: they are built once, in ``runtime.compose`` (the API's, on the journaled database),
never by the service itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.runtime import compose
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.chain_lock import ChainLock
from scheduler_service.stores.chains import MAX_WAITING, ChainStore, waiting_cap
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobStore


class SpyLock(ChainLock):
    def __init__(self, database: Database, clock: FixedClock) -> None:
        super().__init__(database, clock, lease=timedelta(seconds=5), wait_s=1.0)
        self.holds = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        self.holds += 1
        yield


class SpyChains(ChainStore):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.forgotten: list[ObjectId] = []

    def forget(self, job_id: ObjectId, now: datetime) -> int:
        self.forgotten.append(job_id)
        return 0


def test_a_delete_forgets_the_job_in_the_chain_store_given_under_the_lock_given(
    mongo_db: Database, config: Config, clock: FixedClock
) -> None:
    chains, lock = SpyChains(mongo_db), SpyLock(mongo_db, clock)
    service = JobService(JobStore(mongo_db), ExecutionStore(mongo_db), config, clock,
                         chains=chains, chain_lock=lock)  # fmt: skip
    created = service.create({"schedule": "0 0 0 1 1 *", "endpoint": "https://example.com/h"})
    service.delete(str(created["_id"]))
    assert chains.forgotten == [created["_id"]]
    assert lock.holds == 1


def test_compose_gives_the_job_service_a_chain_store_with_the_configured_cap(
    mongo_db: Database, config: Config, clock: FixedClock
) -> None:
    config = replace(config, response_body_limit=100_000)  # long responses: a lower cap
    runtime = compose(config, clock, mongo_db, None, "injected")
    assert runtime.job_service.chains.max_waiting == waiting_cap(100_000) < MAX_WAITING
    assert runtime.job_service.chain_lock.collection.name == "locks"
