"""Fixtures of the fault tests: real service processes on the session's wire server.

A *fleet* is what most tests need: one API process (gunicorn, scheduler disabled) through
which jobs are created and run, and two scheduler instances, either ``flask scheduler run``
processes ("cli") or gunicorn instances with one worker each, with ``deploy/gunicorn.conf.py``
("gunicorn") or as plain ``gunicorn wsgi:app`` ("plain-gunicorn"). A *fail-point fleet* is
the same ("cli") on a SecantusDB server of its own, started with test commands, so that a
test may hold or fail the processes' writes (``configureFailPoint``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.support.processes import ProcessGroup, service_env
from tests.support.service_process import ServiceProcess


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    """The test's processes; all killed in teardown, and their log tails printed."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with ProcessGroup(logs) as processes:
        yield processes


@dataclass
class Fleet:
    api: ServiceProcess
    schedulers: list[ServiceProcess]
    group: ProcessGroup

    @property
    def url(self) -> str:
        return self.api.base_url

    def holder_of(self, owner: str) -> ServiceProcess:
        return self.group.holder_of(owner)


FleetFactory = Callable[..., Fleet]


@pytest.fixture
def start_fleet(wire_uri: str, group: ProcessGroup) -> FleetFactory:
    # wire_uri first: set up before the processes, so torn down (dropped) after they are dead
    def start(kind: str = "cli", schedulers: int = 2, **settings: str | int) -> Fleet:
        api = group.gunicorn("api", service_env(wire_uri, SCHEDULER_ENABLED="false"))
        env = service_env(wire_uri, **settings)
        started = []
        for number in range(1, schedulers + 1):
            name = f"scheduler-{number}"
            if kind == "cli":
                started.append(group.scheduler(name, env))
            else:
                plain = kind == "plain-gunicorn"
                started.append(group.gunicorn(name, env, workers=1, plain=plain))
        group.wait_ready()
        return Fleet(api, started, group)

    return start


@dataclass
class FailPointFleet:
    database: ServiceProcess  # the fleet's own SecantusDB server
    api: ServiceProcess
    client: MongoClient  # the test's client of that server
    group: ProcessGroup

    @property
    def url(self) -> str:
        return self.api.base_url

    @property
    def db(self) -> Database:
        return self.client.get_default_database()

    def fail_point(self, mode: Any, data: dict[str, Any]) -> None:
        """``configureFailPoint failCommand`` with ``mode`` and ``data``."""
        self.client.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                                   "data": data})  # fmt: skip

    def fail_point_off(self) -> None:
        self.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


@pytest.fixture
def start_fail_point_fleet(
    group: ProcessGroup, tmp_path: Path
) -> Iterator[Callable[..., FailPointFleet]]:
    """Start a fail-point fleet (``settings`` for the schedulers); in teardown, before the
    processes are killed, its fail point is turned off and the client closed."""
    started: list[FailPointFleet] = []

    def start(**settings: str | int) -> FailPointFleet:
        database, uri = group.secantus("secantus", tmp_path / "db", test_commands=True)
        group.wait_ready()
        api = group.gunicorn("api", service_env(uri, SCHEDULER_ENABLED="false"))
        for number in (1, 2):
            group.scheduler(f"scheduler-{number}", service_env(uri, **settings))
        group.wait_ready()
        fleet = FailPointFleet(database, api, MongoClient(uri, tz_aware=True), group)
        started.append(fleet)
        return fleet

    yield start
    for fleet in started:
        with contextlib.closing(fleet.client):
            if fleet.database.alive():
                fleet.fail_point_off()
