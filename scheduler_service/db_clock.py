"""The database's clock: one notion of time for every process that shares a database.

Leases, claims, due times and timers are judged with ``DatabaseClock.now()``: this
machine's wall clock plus an offset to the database server's clock. The offset is measured
from ``hello``'s ``localTime`` at start and every ``REFRESH_S`` (from the middle of the
round trip, so its error is at most half the round trip plus the server's millisecond
rounding). A process whose own clock runs 90 s ahead of the others therefore still sees
a lease written by another process expire when it really does, and fires ticks on time.

An offset larger than ``MAX_CLOCK_SKEW`` is logged (once when it crosses the bound, once
when it comes back), reported by health and by the ``scheduler_clock_offset_seconds`` and
``scheduler_clock_skewed`` metrics; the process keeps running on the corrected time.
Until the first measurement succeeds (the database is down at start) the offset is 0 and
health says ``measured: false``.

``$$NOW`` in update pipelines would give the server's time too, but only inside writes; the
poller's look-ahead and the dispatcher's timers need the time before any write, and
SecantusDB does not evaluate ``$$NOW`` inside a filter's ``$expr`` (measured: a future
lease matched), so it cannot guard a take-over by itself either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import to_millis

log = logging.getLogger(__name__)

REFRESH_S = 30.0  # between measurements once one succeeded
RETRY_S = 5.0  # between attempts while none has
SAMPLES = 3  # hellos per measurement; the one with the shortest round trip counts
# A sample whose round trip is longer is not used (its error is half the round trip): a
# hello sent while the database restarts waits for it, and would shift the offset.
MAX_ROUND_TRIP = timedelta(milliseconds=100)
_ROUNDING = timedelta(milliseconds=1)  # ``localTime`` is whole milliseconds
# An offset's error at most: half the longest round trip used, and the server's rounding.
MAX_ERROR = MAX_ROUND_TRIP / 2 + _ROUNDING


def _wall() -> datetime:
    return datetime.now(UTC)


class DatabaseClock:
    def __init__(
        self,
        client: MongoClient,
        bound: timedelta,
        wall: Callable[[], datetime] = _wall,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.bound = bound
        self._wall, self._monotonic = wall, monotonic
        self._offset = timedelta(0)
        self._error = timedelta(0)
        self.measured = False
        self.skewed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> datetime:
        return to_millis(self._wall() + self._offset)

    @property
    def offset(self) -> timedelta:
        return self._offset

    def measure(self) -> bool:
        """One measurement; False (offset kept) when the database does not answer quickly."""
        samples = []
        for _ in range(SAMPLES):
            sample = self._sample()
            if sample is None:  # down: do not wait for it twice more
                return False
            samples.append(sample)
        offset, round_trip = min(samples, key=lambda sample: sample[1])
        if round_trip > MAX_ROUND_TRIP:
            log.debug("clock offset not measured: round trip %s", round_trip)
            return False
        self._offset = offset
        self._error = round_trip / 2 + _ROUNDING
        self.measured = True
        self._judge()
        return True

    def _sample(self) -> tuple[timedelta, timedelta] | None:
        """(offset, round trip) from one ``hello``, or None."""
        sent_wall, sent = self._wall(), self._monotonic()
        try:
            reply: dict[str, Any] = self._client.admin.command("hello")
        except PyMongoError as exc:
            log.debug("clock offset not measured: %s", exc)
            return None
        round_trip = timedelta(seconds=self._monotonic() - sent)
        server = reply.get("localTime")
        if not isinstance(server, datetime):
            return None
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        return server - (sent_wall + round_trip / 2), round_trip

    def _judge(self) -> None:
        skewed = abs(self._offset) > self.bound
        seconds = self._offset.total_seconds()
        metrics.CLOCK_OFFSET.set(seconds)
        metrics.CLOCK_SKEWED.set(1 if skewed else 0)
        if skewed and not self.skewed:
            log.warning(
                "this machine's clock is %+.3f s off the database's (MAX_CLOCK_SKEW %.3f s): "
                "leases, claims and timers use the database's time; fix NTP here",
                -seconds, self.bound.total_seconds(),
            )  # fmt: skip
        elif self.skewed and not skewed:
            log.info("this machine's clock is back within %.3f s of the database's",
                     self.bound.total_seconds())  # fmt: skip
        self.skewed = skewed

    def status(self) -> dict[str, Any]:
        """For health: the offset (database minus this machine), whether it is beyond the bound."""
        return {
            "offsetMs": round(self._offset.total_seconds() * 1000),
            "errorMs": round(self._error.total_seconds() * 1000),
            "boundMs": round(self.bound.total_seconds() * 1000),
            "skewed": self.skewed,
            "measured": self.measured,
        }

    def start(self) -> None:
        """Measure now, then keep measuring in a daemon thread until ``stop()``."""
        self.measure()
        self._thread = threading.Thread(target=self._loop, name="db-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_S if self.measured else RETRY_S):
            self.measure()
