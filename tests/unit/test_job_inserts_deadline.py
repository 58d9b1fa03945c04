"""Grouped inserts (``stores/job_inserts.py``) and each request's database deadline
(``pymongo.timeout``, entered per request by ``api/deadline.py``): a batch is written in
the thread of one of its requests, under that request's deadline. No request may fail
on a deadline earlier than its own (review2: a request with almost no time left led the
next batch and failed the others with it), and none may wait past its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pymongo
from pymongo import _csot
from pymongo.errors import ExecutionTimeout

from scheduler_service.stores.job_inserts import GroupedInserts
from tests.support.waiting import wait_until

FULL_S = 4.0  # a request's whole budget (DB_TIMEOUT_MS's default)


class Writer:
    """Records each batch (its documents' ``n``) and the thread that wrote it; batch i
    first waits for ``holds[i]`` (if any), then fails, as pymongo does, if the writing
    thread's deadline has passed."""

    def __init__(self, holds: dict[int, Callable[[], None]]) -> None:
        self.holds = holds
        self.batches: list[list[int]] = []
        self.threads: list[str] = []

    def __call__(self, documents: list[dict[str, Any]]) -> Sequence[BaseException | None]:
        index = len(self.batches)
        self.batches.append([document["n"] for document in documents])
        self.threads.append(threading.current_thread().name)
        if index in self.holds:
            self.holds[index]()
        left = _csot.remaining()
        if left is not None and left <= 0:
            raise ExecutionTimeout("operation exceeded time limit", 50)
        return [None] * len(documents)


class Requests:
    """Requests submitting ``{"n": n}``, each in its own thread named ``request-n`` under
    its own ``pymongo.timeout``; their outcomes (None: written) and deadlines."""

    def __init__(self, inserts: GroupedInserts) -> None:
        self.inserts = inserts
        self.outcomes: dict[int, BaseException | None] = {}
        self.deadlines: dict[int, float] = {}
        self.threads: list[threading.Thread] = []

    def start(self, n: int, budget_s: float) -> None:
        def create() -> None:
            with pymongo.timeout(budget_s):
                self.deadlines[n] = _csot.get_deadline()
                try:
                    self.inserts.submit({"n": n})
                    self.outcomes[n] = None
                except Exception as exc:  # recorded for the assertions
                    self.outcomes[n] = exc

        thread = threading.Thread(target=create, name=f"request-{n}")
        self.threads.append(thread)
        thread.start()

    def queued(self, *ns: int) -> bool:
        return {slot.document["n"] for slot in list(self.inserts._queue)} >= set(ns)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in self.threads)


def test_a_request_with_time_left_is_not_failed_by_an_older_requests_deadline() -> None:
    requests: Requests

    def until_2_is_out_of_time() -> None:
        wait_until(lambda: requests.queued(2, 3))
        wait_until(lambda: time.monotonic() > requests.deadlines[2] + 0.05)

    writer = Writer({0: until_2_is_out_of_time})
    requests = Requests(GroupedInserts(writer))
    requests.start(1, FULL_S)
    wait_until(lambda: writer.batches)
    # Queued while the first batch is written: an old request with 1 s left (it spent
    # its time before reaching the insert), then a new one with the whole budget. The
    # old one's deadline passes before the first batch is acknowledged.
    requests.start(2, 1.0)
    wait_until(lambda: requests.queued(2))
    requests.start(3, FULL_S)
    wait_until(lambda: requests.queued(3))
    requests.join()
    assert requests.outcomes[1] is None
    assert isinstance(requests.outcomes[2], ExecutionTimeout)  # its own deadline: fair
    assert requests.outcomes[2].timeout  # answered 503 UNAVAILABLE
    assert requests.outcomes[3] is None, f"failed on another's deadline: {requests.outcomes[3]!r}"
    assert writer.batches == [[1], [3]], "the timed-out request's job is not written"


def test_a_batch_is_written_by_the_request_with_the_latest_deadline() -> None:
    requests: Requests
    writer = Writer({0: lambda: wait_until(lambda: requests.queued(2, 3))})
    requests = Requests(GroupedInserts(writer))
    requests.start(1, FULL_S)
    wait_until(lambda: writer.batches)
    requests.start(2, 2.0)  # older, less time left
    wait_until(lambda: requests.queued(2))
    requests.start(3, FULL_S)
    requests.join()
    assert requests.outcomes == {1: None, 2: None, 3: None}
    assert writer.batches == [[1], [2, 3]], "oldest first, as they came"
    assert writer.threads[1] == "request-3"


def test_a_request_whose_deadline_is_shorter_than_its_batch_writers_answers_at_its_own() -> None:
    requests: Requests
    answered_in_flight = threading.Event()

    def until_2_has_answered() -> None:
        if wait_until(lambda: 2 in requests.outcomes, timeout_s=5):
            answered_in_flight.set()

    writer = Writer({0: lambda: wait_until(lambda: requests.queued(2, 3)),
                     1: until_2_has_answered})  # fmt: skip
    requests = Requests(GroupedInserts(writer))
    requests.start(1, FULL_S)
    wait_until(lambda: writer.batches)
    requests.start(3, FULL_S)
    wait_until(lambda: requests.queued(3))
    requests.start(2, 1.5)  # in the same batch as 3, with less time than 3
    requests.join()
    assert writer.batches[1] == [3, 2] and writer.threads[1] == "request-3"
    assert answered_in_flight.is_set(), "2 waited past its deadline for 3's write"
    assert isinstance(requests.outcomes[2], ExecutionTimeout) and requests.outcomes[2].timeout
    assert requests.outcomes[1] is None and requests.outcomes[3] is None
