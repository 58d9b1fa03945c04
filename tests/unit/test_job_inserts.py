"""Grouped inserts (``stores/job_inserts.py``): requests that arrive while a batch is being
written go together in the next one, written by the one with the latest deadline (without
deadlines, as here: the oldest); each returns only once its own document is written, and
gets its own document's error. Deadlines: ``test_job_inserts_deadline``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from scheduler_service.stores.job_inserts import GroupedInserts
from tests.support.waiting import wait_until


class Writer:
    """Records each batch, holding the first until ``release``; ``fail`` decides each
    document's error (``batch_error``: the whole write raises)."""

    def __init__(self, fail: Callable[[dict[str, Any]], BaseException | None] = lambda _: None,
                 batch_error: BaseException | None = None) -> None:  # fmt: skip
        self.batches: list[list[int]] = []
        self.threads: list[str] = []
        self.written: set[int] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail
        self.batch_error = batch_error

    def __call__(self, documents: list[dict[str, Any]]) -> Sequence[BaseException | None]:
        if not self.batches:
            self.entered.set()
            assert self.release.wait(5)
        self.batches.append([document["n"] for document in documents])
        self.threads.append(threading.current_thread().name)
        if self.batch_error is not None and len(self.batches) == 1:
            raise self.batch_error
        errors = [self.fail(document) for document in documents]
        self.written.update(d["n"] for d, e in zip(documents, errors, strict=True) if e is None)
        return errors


def submit_all(group: GroupedInserts, writer: Writer, count: int) -> dict[int, Any]:
    """Document 0 first (its batch held), then 1..count-1 queue behind it; then release.
    Each thread's outcome: "ok" (and its document was written when it returned) or its
    exception."""
    outcomes: dict[int, Any] = {}

    def one(n: int) -> None:
        try:
            group.submit({"n": n})
            outcomes[n] = "ok" if n in writer.written else "returned before written"
        except BaseException as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=one, args=(n,), name=f"request-{n}")
               for n in range(count)]
    threads[0].start()
    assert writer.entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: len(group._queue) == count - 1, timeout_s=5)
    writer.release.set()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_requests_arriving_during_a_write_share_the_next_batch_written_by_the_oldest() -> None:
    writer = Writer()
    outcomes = submit_all(GroupedInserts(writer), writer, 12)
    assert outcomes == dict.fromkeys(range(12), "ok")
    assert writer.batches[0] == [0]
    assert sorted(writer.batches[1]) == list(range(1, 12)), "one batch for all who waited"
    assert writer.threads[1] == f"request-{writer.batches[1][0]}", "written by its first"
    assert len(writer.batches) == 2


def test_a_batch_holds_at_most_max_batch_and_the_rest_follow() -> None:
    writer = Writer()
    outcomes = submit_all(GroupedInserts(writer, max_batch=4), writer, 11)
    assert outcomes == dict.fromkeys(range(11), "ok")
    assert [len(batch) for batch in writer.batches] == [1, 4, 4, 2]


def test_a_documents_error_reaches_its_request_alone() -> None:
    writer = Writer(fail=lambda document: ValueError(f"bad {document['n']}")
                    if document["n"] % 3 == 1 else None)  # fmt: skip
    outcomes = submit_all(GroupedInserts(writer), writer, 9)
    for n in range(9):
        if n % 3 == 1:
            assert isinstance(outcomes[n], ValueError) and str(outcomes[n]) == f"bad {n}"
        else:
            assert outcomes[n] == "ok"


def test_a_failed_write_fails_its_whole_batch_and_the_next_batch_still_goes() -> None:
    writer = Writer(batch_error=ConnectionError("database gone"))
    group = GroupedInserts(writer)
    outcomes = submit_all(group, writer, 5)
    assert isinstance(outcomes[0], ConnectionError)
    assert all(outcomes[n] == "ok" for n in range(1, 5))
    group.submit({"n": 99})  # nothing left in flight: a lone request writes at once
    assert writer.batches[-1] == [99]


def test_a_writer_that_answers_wrongly_fails_every_request_and_hangs_none() -> None:
    def wrong(documents: list[dict[str, Any]]) -> list[BaseException | None]:
        return []  # not one answer per document

    group = GroupedInserts(wrong)
    with pytest.raises(ValueError):
        group.submit({"n": 1})
    with pytest.raises(ValueError):
        group.submit({"n": 2})
