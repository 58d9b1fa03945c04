"""schemathesis against a live service: gunicorn (two workers) on the wire server, driven by
the document the service publishes at /api/openapi.json. Every check schemathesis has
(`--checks all`): no 5xx, only documented status codes, content types and headers, bodies
that fit their schemas, invalid input refused, valid input accepted (see
schemathesis.toml beside this file for the one allowance), auth not ignored.

The run is bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase (default 150;
about a minute), with a fixed seed (SCHEMATHESIS_SEED) so that CI is reproducible; set
another seed locally to explore. Run by `make deploy-test`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.stack import start_gunicorn

pytestmark = pytest.mark.deploy

API_KEY = "fuzz-test-key-0123456789abcdef01"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "150"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261126"))
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory, deploy_db_uri: str) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("fuzz")
    gunicorn, port = start_gunicorn(
        log_dir, 2,
        MONGODB_URI=deploy_db_uri,
        SCHEDULER_ENABLED="false",  # fuzzed jobs target anything: they must never fire
        API_KEYS=API_KEY,
        SECRET_KEY="s" * 32,  # required with API_KEYS (the dashboard's sessions)
        RATE_LIMIT="off",  # thousands of requests a minute, on purpose
        DATA_DIR=str(log_dir / "data"),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        gunicorn.stop()
        print(gunicorn.tail(40))


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    found = str(script) if script.exists() else shutil.which("schemathesis")
    assert found, "schemathesis is not installed (requirements-dev.txt)"
    return [found]


def test_schemathesis_finds_nothing(
    service_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [
        *schemathesis_command(), "--config-file", str(CONFIG), "run",
        f"{service_url}/api/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--header", f"Authorization: Bearer {API_KEY}",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output = result.stdout + result.stderr
    cases = re.search(r"(\d+) generated", output)
    with capsys.disabled():
        summary = cases.group(0) if cases else "no case count found"
        print(f"\nschemathesis (seed {SEED}, {MAX_EXAMPLES} examples): {summary} test cases")
    assert result.returncode == 0, output[-12000:]
    assert "No issues found" in output, output[-4000:]
    assert cases and int(cases.group(1)) >= 500, output[-4000:]
