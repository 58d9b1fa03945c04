"""The embedded server's command line and configuration file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scheduler_service.embedded_db import TTL_SWEEP_SECONDS, server_command


def test_the_server_sweeps_expired_history_hourly_not_every_minute(tmp_path: Path) -> None:
    """SecantusDB's TTL sweep reads every record and blocks writes while it does; the
    configuration file given to the server makes it run once an hour."""
    command = server_command(tmp_path / "data" / "db", 27999)
    config = Path(command[command.index("--config") + 1])
    assert config.parent == tmp_path / "data"
    settings = tomllib.loads(config.read_text())
    assert settings == {"storage": {"ttl_sweep_seconds": TTL_SWEEP_SECONDS}}
    assert TTL_SWEEP_SECONDS >= 3600
    assert "--standalone" in command and command[command.index("--port") + 1] == "27999"
