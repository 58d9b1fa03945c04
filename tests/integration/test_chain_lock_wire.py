"""Two changes of chain lists at once cannot close a cycle (the real wire server).

Without the chain lock, ``A.onSuccess = [B]`` and ``B.onSuccess = [A]`` sent together each
passed its cycle check against the graph as it was, and both were written: a cycle whose
jobs then triggered one another without end (through the API, half of 20 tries did).
Here the first change is held between its check and its write until the second has either
finished (no lock: the cycle is made) or is waiting for the lock (the second then checks
after the first's write, and is the 400)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.clock import SystemClock
from scheduler_service.config import Config
from scheduler_service.errors import Conflict, InvalidInput
from scheduler_service.runtime import compose
from scheduler_service.services.job_service import JobService
from scheduler_service.stores.chain_lock import LOCK_ID

pytestmark = pytest.mark.integration

NEVER = "0 0 0 1 1 *"


def service(database: Database) -> JobService:
    """A job service of its own, as another process's: its own stores, chain lock included."""
    config = Config.from_env(environ={})
    return compose(config, SystemClock(), database, None, "injected").job_service


def new_job(jobs: JobService) -> str:
    created = jobs.create({"schedule": NEVER, "endpoint": "https://example.com/hook",
                           "enabled": False})  # fmt: skip
    return str(created["_id"])


def on_success(database: Database, job_id: str) -> list[ObjectId]:
    return list(database["jobs"].find_one({"_id": ObjectId(job_id)}).get("onSuccess") or [])


def hold_after_check(first: JobService, second: JobService, second_done: threading.Event,
                     *, hold_at_read: int) -> threading.Event:  # fmt: skip
    """Hold ``first``'s change after its ``hold_at_read``-th read of the chain graph (its
    check done, its write not yet made) until ``second``'s change has finished or waits for
    the lock. Returns the event set when the hold begins."""
    checked, second_waiting = threading.Event(), threading.Event()
    read, reads = first.chains.links, []

    def read_then_hold(ids: list[ObjectId]) -> Any:
        found = read(ids)
        reads.append(ids)
        if len(reads) < hold_at_read:
            return found
        checked.set()
        for _ in range(500):
            if second_done.is_set() or second_waiting.is_set():
                break
            threading.Event().wait(0.02)
        return found

    first.chains.links = read_then_hold  # type: ignore[method-assign]
    sleep = second.chain_lock.sleep

    def waiting(seconds: float) -> None:
        second_waiting.set()
        sleep(seconds)

    second.chain_lock.sleep = waiting  # type: ignore[method-assign]
    return checked


def test_two_updates_at_once_cannot_close_a_cycle(wire_db: Database) -> None:
    first, second = service(wire_db), service(wire_db)  # as two processes would
    a, b = new_job(first), new_job(first)
    second_done = threading.Event()
    # The first read is of the ids named; the second is the cycle search's.
    checked = hold_after_check(first, second, second_done, hold_at_read=2)
    outcomes: dict[str, Any] = {}

    def change(name: str, jobs: JobService, job_id: str, child: str) -> None:
        try:
            outcomes[name] = jobs.update(job_id, {"onSuccess": [child]})["onSuccess"]
        except InvalidInput as exc:
            outcomes[name] = exc.details
        finally:
            if name == "second":
                second_done.set()

    one = threading.Thread(target=change, args=("first", first, a, b))
    one.start()
    assert checked.wait(10)
    two = threading.Thread(target=change, args=("second", second, b, a))
    two.start()
    one.join(15)
    two.join(15)

    assert outcomes["first"] == [ObjectId(b)]
    assert outcomes["second"] != [ObjectId(a)], "both were written: A -> B -> A"
    assert "Would make a cycle" in outcomes["second"]["onSuccess"][0]
    assert on_success(wire_db, a) == [ObjectId(b)]
    assert on_success(wire_db, b) == []  # the second changed nothing
    assert wire_db["locks"].count_documents({}) == 0  # given back


def test_a_held_lock_is_a_409_that_changes_nothing_and_clearing_a_list_needs_none(
    wire_db: Database,
) -> None:
    jobs = service(wire_db)
    jobs.chain_lock.wait_s = 0.2
    a, b = new_job(jobs), new_job(jobs)
    jobs.update(a, {"onSuccess": [b]})
    until = SystemClock().now() + timedelta(minutes=1)
    wire_db["locks"].insert_one({"_id": LOCK_ID, "owner": "another process", "until": until})

    with pytest.raises(Conflict):
        jobs.update(b, {"onFailure": [a]})
    assert wire_db["jobs"].find_one({"_id": ObjectId(b)}).get("onFailure") in (None, [])
    # Clearing cannot make a cycle: it does not wait (a runaway chain can always be cut).
    assert not jobs.update(a, {"onSuccess": []}).get("onSuccess")
    assert wire_db["locks"].find_one({"_id": LOCK_ID})["owner"] == "another process"


def test_the_lease_of_a_holder_that_died_runs_out(wire_db: Database) -> None:
    jobs = service(wire_db)
    a, b = new_job(jobs), new_job(jobs)
    gone = SystemClock().now() - timedelta(seconds=1)
    wire_db["locks"].insert_one({"_id": LOCK_ID, "owner": "a dead process", "until": gone})
    assert jobs.update(a, {"onSuccess": [b]})["onSuccess"] == [ObjectId(b)]
    assert wire_db["locks"].count_documents({}) == 0


def test_a_job_deleted_while_a_create_names_it_is_not_left_in_its_list(
    wire_db: Database,
) -> None:
    # The create found the child, then the child was deleted and removed from every list,
    # then the create wrote its list: without the lock, a list naming a job gone for good.
    first, second = service(wire_db), service(wire_db)
    child = new_job(first)
    deleted = threading.Event()
    checked = hold_after_check(first, second, deleted, hold_at_read=1)
    made: list[str] = []
    create = threading.Thread(target=lambda: made.append(str(first.create(
        {"schedule": NEVER, "endpoint": "https://example.com/hook", "onSuccess": [child]}
    )["_id"])))  # fmt: skip
    create.start()
    assert checked.wait(10)
    second.delete(child)
    deleted.set()
    create.join(15)

    assert on_success(wire_db, made[0]) == []
    assert wire_db["locks"].count_documents({}) == 0
