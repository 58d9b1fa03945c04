"""The attempt's total deadline over every read http.client makes on its own.

urllib3's timeout, and :mod:`answer`'s re-armed one, bound each socket read. Inside one call
http.client reads as many times as the target makes it: the status line and headers, a
chunk's size line (up to 64 KiB, a byte at a time) and a chunked body's trailer (any number
of lines). A target that drips those a byte at a time, each just inside the read timeout,
held a worker for as long as it liked (measured: a 1 s attempt answered ``success`` after
12 s, its trailer dripped). So each socket an attempt sends on is watched: at the deadline
one thread shuts it down, which ends whatever read is blocked on it. The attempt then
reports a timeout (:attr:`Watch.fired`).

The socket is attached when it is connected and when a request is sent on it
(:class:`WatchedHTTPConnection`), through the context variable :func:`watching` sets for the
attempt's thread. A socket attached twice is shut down once (the second shutdown fails and
is ignored).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

from scheduler_service.delivery import sends_due
from scheduler_service.delivery.one_write import OneWrite


class Watch:
    """One attempt's deadline and the sockets it sent on."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.fired = False  # the deadline passed with the attempt still on a socket
        self.done = False


_current: ContextVar[Watch | None] = ContextVar("attempt_watch", default=None)


class _Watcher:
    """The one thread that shuts down the sockets of attempts past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._lock:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="attempt-deadlines",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            if self._heap[0][2] is watch:  # sooner than the one the thread waits for
                self._lock.notify()

    def attach(self, watch: Watch, sock: socket.socket) -> None:
        with self._lock:
            if watch.fired:  # past its deadline already: end it now
                _shut(sock)
            watch.sockets.append(sock)

    def finish(self, watch: Watch) -> None:
        with self._lock:  # from here on the watch's sockets are never shut by it
            watch.done = True
            watch.sockets.clear()

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                watch = heapq.heappop(self._heap)[2]
                watch.fired = True
                for sock in watch.sockets:
                    _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


_watcher = _Watcher()


@contextmanager
def watching(deadline: float) -> Iterator[Watch]:
    """Within the block, sockets this thread sends on are shut down at ``deadline``."""
    watch = Watch(deadline)
    _watcher.add(watch)
    token = _current.set(watch)
    try:
        yield watch
    finally:
        _current.reset(token)
        _watcher.finish(watch)


def _attach(sock: socket.socket | None) -> None:
    watch = _current.get()
    if watch is not None and sock is not None:
        _watcher.attach(watch, sock)


class _Watched:
    """Attached when its socket is made and when a request is sent on it (a connection
    kept from an earlier attempt; for https the socket made is wrapped, and the wrapped one
    is attached then). A TLS handshake is bounded by the connect timeout already. Mixed
    into urllib3's two connection classes, before them."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _attach(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        _attach(self.sock)
        watch = _current.get()
        if watch is not None:  # an attempt's request is out: the answer waits for those due
            sends_due.after_send(watch.deadline)


class WatchedHTTPConnection(_Watched, OneWrite, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, OneWrite, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOL_CLASSES = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
