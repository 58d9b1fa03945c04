"""The embedded server: how it is started and configured."""

from __future__ import annotations

import sys
from pathlib import Path

from scheduler_service.embedded_db import server_command
from scheduler_service.embedded_server import TTL_SWEEP_SECONDS, build_server


def test_the_command_runs_this_services_launcher_on_the_given_port_and_path(
    tmp_path: Path,
) -> None:
    command = server_command(tmp_path / "db", 27999)
    assert command[:3] == [sys.executable, "-m", "scheduler_service.embedded_server"]
    assert command[command.index("--port") + 1] == "27999"
    assert command[command.index("--storage-path") + 1] == str(tmp_path / "db")


def test_the_server_sweeps_expired_history_hourly_as_a_durable_standalone(tmp_path: Path) -> None:
    """SecantusDB's TTL sweep reads every record and blocks writes while it does. Checked on
    the server's storage itself: ``python -m secantus`` read the setting from its file and
    then dropped it (the sweep kept running every minute)."""
    server = build_server(tmp_path / "db", 0)
    try:
        assert server.storage._ttl_sweep_seconds == TTL_SWEEP_SECONDS >= 3600
        assert server.storage._durable is True
        assert server.replica_set_name is None and server.enable_test_commands is False
        assert server.host == "127.0.0.1"
    finally:
        server.storage.close()
