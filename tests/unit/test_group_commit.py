from __future__ import annotations

import threading

import pytest

from scheduler_service.scheduler.group_commit import GroupCommit


def test_concurrent_writes_share_batches_and_each_caller_gets_its_result() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def flush(items: list[int]) -> list[int]:
        gate.wait(5)  # hold the first batch so the others pile up behind it
        batches.append(items)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(flush, "test")
    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, group.submit(i)))
               for i in range(20)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    group.close()
    assert results == {i: i * 10 for i in range(20)}
    assert sorted(item for batch in batches for item in batch) == list(range(20))
    assert len(batches) < 20, "writes were batched"


def test_an_item_error_reaches_only_its_caller_and_a_flush_error_reaches_all() -> None:
    def flush(items: list[int]) -> list[int | BaseException]:
        if 99 in items:
            raise ConnectionError("database gone")
        return [ValueError("bad") if item < 0 else item for item in items]

    group: GroupCommit[int, int] = GroupCommit(flush, "test")
    assert group.submit(1) == 1
    with pytest.raises(ValueError, match="bad"):
        group.submit(-1)
    with pytest.raises(ConnectionError):
        group.submit(99)
    group.close()
    with pytest.raises(RuntimeError):
        group.submit(2)
