"""Group commit: the same kind of write from many worker threads, sent as one bulk write.

Each caller blocks until the batch holding its write is acknowledged, so what it does next
(send the request, release the tick) still happens after its own write is in the database:
batching changes the number of round trips, not the order of events. While one batch is
in flight the next one gathers, so under load a batch holds roughly as many writes as
attempts finished during one round trip; alone, a write waits for nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A flush returns, per item, its result or the exception that item's caller should see.
Flush = Callable[[list[T]], Sequence["R | BaseException"]]


class _Slot(Generic[R]):
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: R | BaseException | None = None


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], name: str, max_batch: int = 500) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, _Slot[R]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is pending; return its result or raise its error."""
        slot: _Slot[R] = _Slot()
        with self._cond:
            if self._closed:
                raise RuntimeError("group commit is closed")
            self._pending.append((item, slot))
            self._cond.notify()
        slot.done.wait()
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result  # type: ignore[return-value]

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is pending, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
            try:
                results = list(self._flush([item for item, _ in batch]))
            except BaseException as exc:
                results = [exc] * len(batch)
            for (_, slot), result in zip(batch, results, strict=True):
                slot.result = result
                slot.done.set()
