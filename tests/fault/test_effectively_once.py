"""Exactly-once effect end to end: ``examples/receiver.py`` as a real process, ten signed
jobs firing every second at it, and the scheduler processes killed with ``kill -9`` while
the receiver is answering their requests, again and again (each restarted at once).

The scheduler delivers at least once, so the receiver sees the same tick more than once
(a request whose answer a kill cut off is sent again after its lease, with the same key);
it applies each tick's effect exactly once all the same, and no tick of the window is
missing, neither at the receiver nor in the scheduler's records. And its record of a key
survives a kill -9 of its own database.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from bson import ObjectId
from pymongo.database import Database

from scheduler_service.delivery.payload import idempotency_key
from scheduler_service.delivery.signing import Signing
from scheduler_service.embedded_db import server_command
from tests.fault.conftest import Fleet, FleetFactory
from tests.support.databases import database_uri
from tests.support.ports import free_port
from tests.support.processes import (
    ProcessGroup,
    api,
    create_job,
    owner_pid,
    service_env,
)
from tests.support.service_process import ServiceProcess
from tests.support.store_view import inflight
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

JOBS = 10
KILLS = 6
APPLIED_BETWEEN_KILLS = 40  # requests after a restart before the next kill: ~4 s
DELAY_MS = 700  # the receiver holds each first answer this long: kills land mid-request
FRESH_S = 0.3  # a kill aims at requests applied less than this long ago
SETTINGS = {
    "SCHEDULER_POLL_INTERVAL": 300, "JOB_LEASE_TIMEOUT": 3000, "MAX_CONCURRENT_JOBS": 20,
}  # fmt: skip
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
DELIVERY = re.compile(r"delivery (\S+) attempt \S+: (applied|already applied)")
APPLIED = re.compile(r"^(\S+ \S+) INFO delivery (\S+) attempt \S+: applied$", re.MULTILINE)
SECOND = timedelta(seconds=1)
RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "receiver.py"


def start_receiver(
    group: ProcessGroup, mongodb_uri: str, delay_ms: int = DELAY_MS
) -> tuple[ServiceProcess, str]:
    """``flask --app examples/receiver.py run``, as its docstring says, on a free port."""
    port = free_port()
    env = service_env(mongodb_uri, WEBHOOK_SECRET=SECRET, RECEIVER_DELAY_MS=delay_ms)
    command = [sys.executable, "-m", "flask", "--app", str(RECEIVER), "run",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = group.start("receiver", "target", command, env, port=port)
    wait_until(process.is_ready, 30, interval_s=0.05, message="the receiver to listen")
    return process, f"http://127.0.0.1:{port}"


def deliveries(receiver: ServiceProcess) -> list[tuple[str, str]]:
    """(key, outcome) of every verified request the receiver logged, in order."""
    return DELIVERY.findall(receiver.log_text())


def applied_at(receiver: ServiceProcess) -> dict[str, float]:
    """Key -> when the receiver applied it (unix time, from its log line's local time to
    the millisecond, rounded down); it answers DELAY_MS after that at the earliest."""
    return {key: datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for stamp, key in APPLIED.findall(receiver.log_text())}  # fmt: skip


@dataclass
class Scene:
    """The fleet's scheduler processes (replaced as they are killed and restarted), the
    receiver and the jobs."""

    fleet: Fleet
    receiver: ServiceProcess
    db: Database
    job_ids: list[str]
    env: dict[str, str]
    rng: random.Random

    def __post_init__(self) -> None:
        self.schedulers = list(self.fleet.schedulers)

    def mid_request(self, candidates: list[int]) -> tuple[int, list[str]] | None:
        """The first of ``candidates`` (indexes into ``schedulers``) running ticks whose
        requests the receiver holds, and their keys. (Jobs stick to the process that ran
        their last tick, so one process may hold all of them for a while.)"""
        entries = [(job_id, entry) for job_id in self.job_ids
                   for entry in inflight(self.db, job_id)]  # fmt: skip
        now, applied = time.time(), applied_at(self.receiver)
        running = dict[int, list[str]]()
        for job_id, entry in entries:
            key = idempotency_key(job_id, entry["scheduledAt"])
            fresh = now - applied.get(key, 0) < FRESH_S
            if entry.get("state") == "running" and entry.get("owner") and fresh:
                running.setdefault(owner_pid(entry["owner"]), []).append(key)
        return next(((slot, running[self.schedulers[slot].pid]) for slot in candidates
                     if running.get(self.schedulers[slot].pid)), None)  # fmt: skip

    def applied_since(self, count: int) -> bool:
        return len(deliveries(self.receiver)) >= count + APPLIED_BETWEEN_KILLS

    def kill_mid_request(self, number: int) -> list[str]:
        """Once ticks flow again, kill -9 a scheduler (a random one of those the receiver
        is answering) and restart it; return the keys of the requests it left unanswered:
        those it was running that the receiver had applied less than DELAY_MS before the
        kill (the answer, held that long, had not been sent)."""
        wait_until(partial(self.applied_since, len(deliveries(self.receiver))), 30,
                   interval_s=0.05, message="ticks flowing again")  # fmt: skip
        order = self.rng.sample(range(len(self.schedulers)), len(self.schedulers))
        slot, keys = wait_until(partial(self.mid_request, order), 15, interval_s=0.02,
                                message="a scheduler mid-request")  # fmt: skip
        victim = self.schedulers[slot]
        victim.kill()  # SIGKILL, and wait for it to die
        killed_at = time.time()
        applied = applied_at(self.receiver)
        keys = [key for key in keys if killed_at < applied[key] + DELAY_MS / 1000]
        print(f"kill {number}: {victim.name} with {len(keys)} request(s) at the receiver")
        restarted = self.fleet.group.scheduler(f"scheduler-{slot + 1}-r{number}", self.env)
        wait_until(restarted.is_ready, 30, interval_s=0.05, message=f"{restarted.name} ready")
        self.schedulers[slot] = restarted
        return keys

    def settled(self, ticks: set[tuple[str, datetime]]) -> list[dict[str, Any]] | None:
        """Every attempt recorded, once nothing is in flight, every tick of ``ticks`` has
        succeeded and the receiver has applied it; else None."""
        if any(inflight(self.db, job_id) for job_id in self.job_ids):
            return None
        applied = {key for key, outcome in deliveries(self.receiver) if outcome == "applied"}
        ids = [ObjectId(job_id) for job_id in self.job_ids]
        records = list(self.db.job_executions.find({"jobId": {"$in": ids}}))
        succeeded = {(str(r["jobId"]), r["scheduledAt"]) for r in records
                     if r["status"] == "success"}  # fmt: skip
        owed = {idempotency_key(job_id, at) for job_id, at in ticks}
        return records if owed <= applied and ticks <= succeeded else None


def test_kill_9_mid_request_repeatedly_every_tick_takes_effect_exactly_once(
    start_fleet: FleetFactory, wire_uri: str, wire_db: Database
) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    fleet = start_fleet("cli", WEBHOOK_SIGNING_KEYS=SECRET, **SETTINGS)
    receiver, receiver_url = start_receiver(fleet.group, wire_uri)
    job_ids = [
        create_job(
            fleet.url, schedule="* * * * * *", endpoint=f"{receiver_url}/hook/{n}",
            body={"job": n, "tick": "{{timestamp}}"}, concurrencyPolicy="ALLOW",
            missedRunPolicy="RUN_ALL", retryAttempts=3, retryDelay=500,
        )
        for n in range(JOBS)
    ]
    window_start = datetime.now(UTC).replace(microsecond=0) + 2 * SECOND
    env = service_env(wire_uri, WEBHOOK_SIGNING_KEYS=SECRET, **SETTINGS)
    scene = Scene(fleet, receiver, wire_db, job_ids, env, random.Random(seed))

    cut_off = [key for number in range(1, KILLS + 1) for key in scene.kill_mid_request(number)]
    window_end = datetime.now(UTC).replace(microsecond=0) - SECOND
    for job_id in job_ids:  # no more ticks: what is left to check is what is owed
        assert api(fleet.url, "PUT", f"/api/jobs/{job_id}", json={"enabled": False}).ok
    seconds = int((window_end - window_start) / SECOND) + 1
    ticks = {(job_id, window_start + n * SECOND) for job_id in job_ids for n in range(seconds)}
    records = wait_until(partial(scene.settled, ticks), 60, interval_s=0.2,
                         message="every tick of the window settled")  # fmt: skip

    # The receiver applied every tick's effect exactly once: one document per key (its
    # unique index), one "applied" per key in its log, each with the tick's own payload.
    effects = list(wire_db["effects"].find({}))
    per_key = Counter(effect["idempotencyKey"] for effect in effects)
    assert set(per_key.values()) == {1}
    for effect in effects:
        tick = datetime.fromisoformat(effect["payload"]["tick"].replace("Z", "+00:00"))
        assert effect["idempotencyKey"] == idempotency_key(job_ids[effect["payload"]["job"]], tick)
    owed = {idempotency_key(job_id, at) for job_id, at in ticks}
    assert owed <= per_key.keys(), "a tick of the window was never applied"
    log = deliveries(receiver)
    applied = Counter(key for key, outcome in log if outcome == "applied")
    assert set(applied.values()) == {1} and applied.keys() == per_key.keys()

    # ... though it saw re-deliveries: every request cut off by a kill came again.
    seen = Counter(key for key, _ in log)
    assert cut_off and all(seen[key] >= 2 for key in cut_off), (cut_off, seen)
    # Each request it saw is an attempt the scheduler recorded (the killed ones too).
    attempts = Counter(idempotency_key(str(r["jobId"]), r["scheduledAt"]) for r in records)
    assert all(seen[key] <= attempts[key] for key in owed)
    repeated = {key: count for key, count in seen.items() if count > 1}
    print(f"window {seconds} s x {JOBS} jobs = {len(ticks)} ticks; kills {KILLS}; "
          f"requests cut off {len(cut_off)}; keys delivered more than once {len(repeated)} "
          f"(most {max(repeated.values())} times); requests {len(log)}; effects per key "
          f"{dict(Counter(per_key.values()))}; records {len(records)}")  # fmt: skip


def deliver(url: str, key: str, body: dict[str, Any]) -> tuple[int, str]:
    """One signed request, as the scheduler sends it; the receiver's status and answer."""
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {**Signing((SECRET,), key, datetime.now(UTC)).headers(data),
               "Idempotency-Key": key, "Content-Type": "application/json"}  # fmt: skip
    answer = requests.post(url, data=data, headers=headers, timeout=40)
    return answer.status_code, answer.json().get("status", "")


def test_an_applied_key_survives_a_kill_9_of_the_receivers_database(
    group: ProcessGroup, tmp_path: Path
) -> None:
    """The receiver writes with j: true. With w: 1 (the driver's default on a standalone),
    its record of a key was lost to a kill -9 of the database, and the tick's repeat after
    the restart was applied a second time."""
    storage = tmp_path / "db"
    database, uri = group.secantus("secantus", storage)
    group.wait_ready()
    receiver, url = start_receiver(group, database_uri(uri, "receiver"), delay_ms=0)
    key = idempotency_key(str(ObjectId()), datetime.now(UTC))
    assert deliver(f"{url}/hook", key, {"n": 1}) == (200, "applied")

    database.kill()  # SIGKILL: no clean shutdown of its storage
    assert database.port is not None
    command = server_command(storage, database.port)
    restarted = group.start("secantus-restarted", "secantus", command, dict(os.environ),
                            port=database.port)  # fmt: skip
    wait_until(restarted.is_ready, 30, interval_s=0.05, message="the database restarted")
    assert deliver(f"{url}/hook", key, {"n": 1}) == (200, "already applied")
    assert [outcome for _, outcome in deliveries(receiver)] == ["applied", "already applied"]
