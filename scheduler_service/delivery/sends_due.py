"""Requests due now go out before answers are read.

At light load twenty ticks claimed ahead fall due in the same millisecond, in one process,
and each request needs the GIL for a few hundred microseconds to go out. The first ones sent
were answered within a few milliseconds, and reading those answers (status line, headers,
body), then recording the attempts, took the GIL from the workers not sent yet: traced, the
twentieth request of a second went out 15-20 ms after its time. So a worker that will send
at its tick's time says so first (:func:`expecting`), and an attempt whose request is out
waits, before it reads its answer, until no request due by now is still unsent (at most
``HOLD_S``, and never past its deadline: :func:`after_send`). The answer waits in the
socket meanwhile; the attempt's ``duration`` includes the wait.

Only the last of the due requests to go out wakes the waiting ones (all at once), so the
wait costs no GIL hand-offs while requests are going out.

Even so the twenty took 0.4-0.5 ms of GIL each to build through urllib3 and http.client
(the pool, the connection's check, the request line and headers), one after another, so the
last went out 8-10 ms late. So the worker of an expected request wakes ``dispatcher.EARLY``
before its time, builds it, and its first write (or connect) waits for the time
(:func:`hold`, from :mod:`one_write`): at the due instant only the writes are left. It is
never sent before its time; the attempt's start and duration count from when it was let go
(:func:`released`, ``executor._released``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

HOLD_S = 0.02  # an answer waits at most this long for the requests due before it


class SendsDue:
    """The requests expected to go out at a time (``expect``), until they do (``sent``)."""

    def __init__(self, now: Callable[[], float] = time.time, hold_s: float = HOLD_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._now = now  # the clock the due times are on (epoch seconds)
        self._monotonic = monotonic  # for the wait's bound
        self.hold_s = hold_s
        self._due: dict[int, float] = {}  # token: due time, of the requests not sent yet
        self._tokens = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0

    def now(self) -> float:
        """The time ``expect``'s due times are on."""
        return self._now()

    def expect(self, due: float) -> int:
        """A request will go out at ``due``; the token to say it did (``sent``)."""
        with self._cond:
            token = next(self._tokens)
            self._due[token] = due
            return token

    def sent(self, token: int) -> None:
        """The request of ``token`` went out (or never will): once none due by now is
        unsent, the answers waiting are read."""
        with self._cond:
            if self._due.pop(token, None) is not None and self._waiting and not self._unsent():
                self._cond.notify_all()

    def unsent(self) -> int:
        """Requests due by now and not sent yet."""
        with self._cond:
            return self._unsent()

    def _unsent(self) -> int:
        now = self._now()
        return sum(1 for due in self._due.values() if due <= now)

    def wait_for_sends(self, limit_s: float) -> bool:
        """Wait while a request due by now is unsent, for at most ``limit_s`` (and
        ``hold_s``); True if it waited for none or for all of them."""
        end = self._monotonic() + min(limit_s, self.hold_s)
        with self._cond:
            while self._unsent():
                left = end - self._monotonic()
                if left <= 0:
                    return False
                self._waiting += 1
                try:
                    self._cond.wait(left)
                finally:
                    self._waiting -= 1
            return True


SENDS = SendsDue()
CLOCKS_AGREE_S = 0.002  # see ``due_at``


def due_at(started: datetime, clock_now: datetime, now: float) -> float:
    """``started``, a time on the scheduler's clock (the database's, ``db_clock.py``, whose
    ``clock_now`` it is), as a time on ``now``'s (this machine's, epoch seconds): when its
    request may go out. Nor before ``started`` by this machine's clock, as long as the two
    agree within ``CLOCKS_AGREE_S`` (the offset is measured to about a millisecond): a
    target timing it by a clock in step with ours never sees it early."""
    converted = now + (started - clock_now).total_seconds()
    return max(converted, min(started.timestamp(), converted + CLOCKS_AGREE_S))


@dataclass
class Expected:
    """This thread's attempt, expected to send at ``due`` (on ``sends.now``)."""

    sends: SendsDue
    token: int
    due: float
    released: float | None = None  # ``time.monotonic()`` when its first write was let go
    sent: bool = False


_expected: ContextVar[Expected | None] = ContextVar("sends_due", default=None)


@contextmanager
def expecting(due: float, sends: SendsDue = SENDS) -> Iterator[Expected]:
    """Within the block, this thread's attempt will send at ``due`` (on ``sends.now``):
    its first request counts as due until it goes out (or the block ends), and its first
    write waits for ``due`` (:func:`hold`)."""
    expected = Expected(sends, sends.expect(due), due)
    reset = _expected.set(expected)
    try:
        yield expected
    finally:
        _expected.reset(reset)
        sends.sent(expected.token)


def hold(sleep: Callable[[float], None] = time.sleep) -> None:
    """Just before this thread's attempt first writes to a socket (or connects): an
    expected request, made ready ahead of its time, waits here for it; never sent early."""
    expected = _expected.get()
    if expected is None or expected.released is not None:
        return
    while (left := expected.due - expected.sends.now()) > 0:
        sleep(left)
    expected.released = time.monotonic()


def expected() -> bool:
    """Is this thread's attempt expected at a time (:func:`expecting`)?"""
    return _expected.get() is not None


def starts_in() -> float:
    """Seconds until this thread's expected request may go out (0: now, or none)."""
    expected = _expected.get()
    if expected is None or expected.released is not None:
        return 0.0
    return max(expected.due - expected.sends.now(), 0.0)


def released() -> float | None:
    """When this thread's expected request was let go (``time.monotonic()``), if it was."""
    expected = _expected.get()
    return None if expected is None else expected.released


def after_send(deadline: float | None, sends: SendsDue = SENDS) -> None:
    """This thread's request is out: if it was expected, say so; then wait for the
    requests due by now to go out before the answer is read (``deadline``: the attempt's,
    on ``time.monotonic``; the wait ends well before it)."""
    expected = _expected.get()
    if expected is not None and not expected.sent:
        expected.sent = True
        expected.sends.sent(expected.token)
        sends = expected.sends
    limit = sends.hold_s if deadline is None else (deadline - time.monotonic()) / 2
    if limit > 0:
        sends.wait_for_sends(limit)
