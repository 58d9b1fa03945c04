"""DatabaseClock: this machine's time corrected by its offset to the database server's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import WriteConcern
from pymongo.errors import ServerSelectionTimeoutError

from scheduler_service import metrics
from scheduler_service.config import Config
from scheduler_service.db import write_concern
from scheduler_service.db_clock import DatabaseClock

WALL = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeServer:
    """``client.admin.command("hello")`` answering with a server clock ``ahead`` of ours,
    each answer taking ``round_trip_s`` (by the fake monotonic clock)."""

    def __init__(self, ahead: timedelta, round_trip_s: float = 0.004) -> None:
        self.ahead, self.round_trip_s, self.down = ahead, round_trip_s, False
        self.mono = 100.0
        self.admin = self

    def wall(self) -> datetime:
        return WALL + timedelta(seconds=self.mono - 100.0)

    def monotonic(self) -> float:
        return self.mono

    def command(self, name: str) -> dict[str, Any]:
        assert name == "hello"
        if self.down:
            raise ServerSelectionTimeoutError("down")
        self.mono += self.round_trip_s / 2
        local_time = (self.wall() + self.ahead).replace(tzinfo=None)  # BSON's naive UTC
        self.mono += self.round_trip_s / 2
        return {"isWritablePrimary": True, "localTime": local_time}


def clock_on(server: FakeServer, bound_ms: int = 1000) -> DatabaseClock:
    return DatabaseClock(server, timedelta(milliseconds=bound_ms), server.wall,  # type: ignore[arg-type]
                         server.monotonic)  # fmt: skip


def test_now_is_the_database_servers_time() -> None:
    server = FakeServer(ahead=timedelta(seconds=-90))  # this machine runs 90 s fast
    clock = clock_on(server)
    assert clock.measure()
    assert abs(clock.now() - (server.wall() - timedelta(seconds=90))) <= timedelta(milliseconds=3)
    status = clock.status()
    assert status["measured"] and status["skewed"] and status["boundMs"] == 1000
    assert abs(status["offsetMs"] + 90_000) <= 3
    assert metrics.CLOCK_SKEWED._value.get() == 1  # type: ignore[attr-defined]


def test_within_the_bound_is_not_skewed_but_still_corrected() -> None:
    server = FakeServer(ahead=timedelta(milliseconds=400))
    clock = clock_on(server)
    assert clock.measure()
    assert not clock.status()["skewed"]
    assert clock.now() - server.wall() >= timedelta(milliseconds=397)


def test_a_slow_or_failed_measurement_keeps_the_last_offset() -> None:
    server = FakeServer(ahead=timedelta(seconds=5))
    clock = clock_on(server)
    assert clock.measure()
    server.ahead, server.round_trip_s = timedelta(seconds=30), 2.0  # a hello held up 2 s
    assert not clock.measure()
    server.down = True
    assert not clock.measure()
    assert abs(clock.offset - timedelta(seconds=5)) <= timedelta(milliseconds=3)


def test_unmeasured_the_offset_is_zero_and_health_says_so() -> None:
    server = FakeServer(ahead=timedelta(seconds=5))
    server.down = True
    clock = clock_on(server)
    assert not clock.measure()
    assert clock.now() == server.wall()
    assert clock.status()["measured"] is False


class FakeClient:
    def __init__(self, set_name: str | None) -> None:
        self.set_name, self.admin = set_name, self

    def command(self, name: str) -> dict[str, Any]:
        return {"setName": self.set_name} if self.set_name else {}


@pytest.mark.parametrize(
    ("setting", "set_name", "w"),
    [("auto", "rs0", "majority"), ("auto", None, 1), ("majority", None, "majority"),
     ("1", "rs0", 1)],
)  # fmt: skip
def test_write_concern_is_majority_on_a_replica_set_by_default(
    setting: str, set_name: str | None, w: str | int
) -> None:
    config = Config(db_write_concern=setting)
    assert write_concern(config, FakeClient(set_name)) == WriteConcern(w=w)  # type: ignore[arg-type]
