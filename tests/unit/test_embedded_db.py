"""The embedded server: how it is started and configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler_service.config import variables
from scheduler_service.embedded_db import require_installed, server_command
from scheduler_service.embedded_server import TTL_SWEEP_SECONDS, build_server
from scheduler_service.errors import ConfigError
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


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


def test_without_the_embedded_extra_an_unset_mongodb_uri_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "secantus.server", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"^MONGODB_URI: .*scheduler-service\[embedded\]"):
        require_installed()


def test_the_service_says_so_in_one_line_when_the_extra_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in variables()}
    env.update(PYTHONPATH=str(ROOT), DATA_DIR=str(tmp_path), EMBEDDED_DB_PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['secantus.server'] = None; import wsgi"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3  # gunicorn's boot-error code (CONFIG_ERROR_EXIT)
    assert result.stderr.splitlines() == [
        "configuration error: MONGODB_URI: not set, and the embedded database is not "
        "installed: set it, or install the extra: pip install 'scheduler-service[embedded]'"
    ]
