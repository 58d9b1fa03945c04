"""The chaos harness's own parts, quickly (they run in ``make test``): the clock shim, the
faulty proxy and the history checker on a history made up here."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.chaos import clock_shim
from tests.chaos.history import BASELINE, FaultWindow, JobSpec, check
from tests.chaos.target import Receipt
from tests.chaos.tcp_proxy import FaultyProxy


def test_the_shim_shifts_the_wall_clock_only(tmp_path: Path) -> None:
    library = clock_shim.build(tmp_path)
    env = clock_shim.skewed_env(dict(os.environ), library, 90)
    script = (
        "import time, threading; w = time.time(); m = time.monotonic(); time.sleep(0.1); "
        "threading.Event().wait(0.1); print(w, time.monotonic() - m)"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, timeout=20).stdout.split()  # fmt: skip
    assert 89 < float(out[0]) - time.time() < 91
    assert 0.2 <= float(out[1]) < 2.0, "sleeps and timed waits keep their length"


def _echo(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):  # the proxy's reset reaches this side too
        while data := conn.recv(1024):
            conn.sendall(data)


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_the_proxy_forwards_holds_and_resets() -> None:
    server, port = _echo_server()
    proxy = FaultyProxy(port)
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        client.sendall(b"one")
        assert client.recv(16) == b"one"
        proxy.blackhole()
        client.sendall(b"two")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(16)
        proxy.heal()
        client.settimeout(2)
        assert client.recv(16) == b"two", "held bytes flow once healed"
        assert proxy.reset() >= 1
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            client.sendall(b"x")
            assert client.recv(16) == b""  # an orderly close would be a failure of reset()
            raise ConnectionResetError
        client.close()
    finally:
        proxy.close()
        server.close()


T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def _receipt(job: str, tick: datetime, delay_s: float, status: int = 200) -> Receipt:
    at = tick.timestamp() + delay_s
    stamp = tick.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return Receipt(at, at + 0.01, job, stamp, 1, status, "k")


def test_the_checker_finds_duplicates_losses_and_early_ticks() -> None:
    every = "* * * * * *"
    specs = [JobSpec("amo", every, "AT_MOST_ONCE", "ALLOW", "RUN_ALL"),
             JobSpec("alo", every, "AT_LEAST_ONCE", "ALLOW", "RUN_ALL"),
             JobSpec("coalesced", every, "AT_LEAST_ONCE", "FORBID", "COALESCE")]  # fmt: skip
    ticks = [T0 + timedelta(seconds=n) for n in range(5)]
    receipts = [_receipt("amo", t, 0.01) for t in ticks] + [_receipt("amo", ticks[1], 0.2)]
    receipts += [_receipt("alo", t, 0.01) for t in ticks[:4] if t != ticks[2]]
    receipts += [_receipt("alo", ticks[3], 0.3), _receipt("alo", ticks[4], -5)]
    # the coalesced job: down from tick 1 to 3.5 s, then tick 3 runs late; 1 and 2 are gone
    receipts += [_receipt("coalesced", t, 0.01) for t in (ticks[0], ticks[4])]
    receipts += [_receipt("coalesced", ticks[3], 0.5)]
    records = [
        {"jobId": "alo", "scheduledAt": ticks[0], "attempt": 1, "status": "success"},
        {"jobId": "alo", "scheduledAt": ticks[2], "attempt": 1, "status": "success"},
    ]
    window = (ticks[0].timestamp(), ticks[4].timestamp())
    fault = FaultWindow("kill-9", ticks[3].timestamp() - 0.1, ticks[3].timestamp() + 0.1)
    report = check(specs, receipts, records, ["x: running"], {"a", "b"}, {"a"}, {}, [fault],
                   window, poll_s=0.3, grace_s=0.6)  # fmt: skip
    baseline = report.rows[BASELINE]
    assert (baseline.dup_at_most_once, baseline.lost, baseline.early) == (1, 1, 1)
    assert report.rows["kill-9"].dup_at_least_once == 1  # tolerated there: no violation
    assert baseline.excused == 2 and report.rows["kill-9"].late == 1
    kinds = sorted(v.split(":")[0] for v in report.violations)
    assert kinds == ["acknowledged job lost", "fired early", "left in flight after the run",
                     "never received", "received 2 times", "success record without a 2xx "
                     "answer"]  # fmt: skip
