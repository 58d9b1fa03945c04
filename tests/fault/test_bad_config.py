"""A bad setting stops the service however it is served, with one line naming the variable,
and no gunicorn master boots workers forever (gunicorn halts only when a worker exits with
its boot-error code, 3: ``CONFIG_ERROR_EXIT``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scheduler_service.settings import CONFIG_ERROR_EXIT
from tests.support.ports import free_port
from tests.support.processes import ProcessGroup, service_env

pytestmark = pytest.mark.fault

LINE = "configuration error: MAX_CONCURRENT_JOBS: must be a whole number (got 'ten')"
BOOTED = "Booting worker"
WORKERS = 2
EXIT_WITHIN_S = 30  # gunicorn respawning forever never exits: this bounds the test


def _gunicorn(*options: str) -> list[str]:
    address = f"127.0.0.1:{free_port()}"
    return [sys.executable, "-m", "gunicorn", *options, "--bind", address,
            "--workers", str(WORKERS), "--no-control-socket", "wsgi:app"]  # fmt: skip


def _commands(tmp_path: Path) -> dict[str, tuple[list[str], int]]:
    """Each way of serving, and how many workers may boot before it stops."""
    no_hooks = tmp_path / "no_hooks.conf.py"  # a gunicorn configuration without our hooks
    no_hooks.write_text("# nothing: gunicorn's defaults\n")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    return {
        # the master checks the configuration before it forks: no worker boots
        "make run (deploy/gunicorn.conf.py)": (_gunicorn("-c", "deploy/gunicorn.conf.py"), 0),
        "plain gunicorn wsgi:app": (_gunicorn(), 0),  # reads ./gunicorn.conf.py
        # no master check: the first worker exits with the boot-error code and gunicorn halts
        "gunicorn without the hooks": (_gunicorn("-c", str(no_hooks)), WORKERS),
        "flask scheduler run": ([*flask, "scheduler", "run"], 0),
        "flask jobs list": ([*flask, "jobs", "list"], 0),
    }


@pytest.mark.parametrize(
    "how",
    ["make run (deploy/gunicorn.conf.py)", "plain gunicorn wsgi:app",
     "gunicorn without the hooks", "flask scheduler run", "flask jobs list"],
)  # fmt: skip
def test_a_bad_setting_stops_the_service_with_one_line(
    how: str, group: ProcessGroup, tmp_path: Path
) -> None:
    command, most_booted = _commands(tmp_path)[how]
    # Never contacted: the configuration is checked first.
    env = service_env("mongodb://127.0.0.1:9/unused", MAX_CONCURRENT_JOBS="ten")
    process = group.start("service", "bad-config", command, env)

    status = process.wait_exit(EXIT_WITHIN_S)
    if most_booted == 0:
        assert status == CONFIG_ERROR_EXIT
    else:  # gunicorn halts with 3, or 1 when a second worker fails while it stops (its bug)
        assert status in (CONFIG_ERROR_EXIT, 1)
    log = process.log_text()
    assert LINE in log.splitlines()
    assert "ConfigError" not in log, "our error is one line, never a traceback"
    if most_booted == 0:  # nothing else ran: the one line is all there is to say
        assert "Traceback" not in log
    assert process.log_count(BOOTED) <= most_booted
