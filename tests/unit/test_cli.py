"""``flask jobs ...`` / ``flask scheduler run`` and the wsgi entry point's start-up rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskCliRunner
from pymongo.database import Database

from scheduler_service import cli
from scheduler_service.runtime import get_runtime

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample-job.json"
VALID = {"schedule": "*/30 * * * * *", "endpoint": "http://localhost:8080/hook"}


def seed(runner: FlaskCliRunner, tmp_path: Path, payload: Any) -> Any:
    path = tmp_path / "jobs.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return runner.invoke(args=["jobs", "seed", str(path)])


def test_seed_the_sample_file(runner: FlaskCliRunner, mongo_db: Database) -> None:
    result = runner.invoke(args=["jobs", "seed", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip().removeprefix("created ")
    stored = mongo_db["jobs"].find_one({"_id": ObjectId(job_id)})
    assert stored["schedule"] == "0 */5 * * * *"
    assert stored["headers"]["Authorization"] == "Bearer YOUR_TOKEN"
    assert (stored["retryAttempts"], stored["retryDelay"]) == (3, 5000)


def test_seed_a_list_creates_the_valid_jobs_and_reports_the_bad_ones(
    runner: FlaskCliRunner, mongo_db: Database, tmp_path: Path
) -> None:
    jobs = [VALID, {**VALID, "schedule": "0 0 0 30 2 *", "retryAttempts": 11}, VALID]

    result = seed(runner, tmp_path, jobs)

    assert result.exit_code == 1
    assert result.stdout.count("created ") == 2
    assert "error in job #2: schedule: " in result.stderr
    assert "error in job #2: retryAttempts: " in result.stderr
    assert "#1" not in result.stderr and "#3" not in result.stderr
    assert mongo_db["jobs"].count_documents({}) == 2


def test_seed_reports_nested_and_non_object_errors(
    runner: FlaskCliRunner, mongo_db: Database, tmp_path: Path
) -> None:
    result = seed(runner, tmp_path, [{**VALID, "headers": {"X-A": 1}}, 42])
    assert result.exit_code == 1
    assert "error in job #1: headers" in result.stderr
    assert "error in job #2: _schema: Expected a JSON object" in result.stderr
    assert mongo_db["jobs"].count_documents({}) == 0


def test_seed_rejects_a_malformed_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = seed(runner, tmp_path, "{not json")
    assert result.exit_code == 1
    assert "Malformed JSON" in result.output
    missing = runner.invoke(args=["jobs", "seed", str(tmp_path / "missing.json")])
    assert missing.exit_code == 2  # click's usage error: the file does not exist


def test_list_prints_a_table_newest_first(runner: FlaskCliRunner, tmp_path: Path) -> None:
    seed(runner, tmp_path, [VALID, {**VALID, "enabled": False}])

    result = runner.invoke(args=["jobs", "list", "--limit", "1"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCHEDULE", "TAGS", "PRIORITY", "ENABLED", "NEXT",
                                "RUN", "AT"]  # fmt: skip
    assert len(lines) == 3  # header, one row, footer
    assert "*/30 * * * * *" in lines[1] and lines[1].split()[-3:] == ["5", "no", "-"]
    assert lines[-1] == "page 1 of 2, 2 jobs in all"

    page_two = runner.invoke(args=["jobs", "list", "--page", "2", "--limit", "1"]).stdout
    assert page_two.splitlines()[1].split()[-2:] == ["yes", "2024-01-01T12:00:30.000Z"]
    assert runner.invoke(args=["jobs", "list", "--limit", "0"]).exit_code == 2


def test_list_filters_like_the_api(runner: FlaskCliRunner, tmp_path: Path) -> None:
    seed(runner, tmp_path, [
        {**VALID, "name": "billing nightly", "tags": ["billing", "nightly"]},
        {**VALID, "name": "billing paused", "tags": ["billing"], "enabled": False},
        {**VALID, "name": "reports", "tags": ["reports"]},
    ])  # fmt: skip

    def names(*args: str) -> list[str]:
        result = runner.invoke(args=["jobs", "list", *args])
        assert result.exit_code == 0, result.output
        return [line.split()[2] for line in result.stdout.splitlines()[1:-1]]

    assert names("--tag", "billing", "--enabled") == ["nightly"]
    assert names("--tag", "billing", "--sort", "name") == ["nightly", "paused"]
    assert names("--disabled") == ["paused"]
    assert runner.invoke(args=["jobs", "list", "--q", "REPORT"]).stdout.splitlines()[-1] == (
        "page 1 of 1, 1 jobs in all")
    bad = runner.invoke(args=["jobs", "list", "--tag", "has space"])
    assert bad.exit_code != 0 and "tag" in bad.output


def test_show_prints_the_job_with_masked_headers(runner: FlaskCliRunner, tmp_path: Path) -> None:
    job_id = seed(runner, tmp_path, {**VALID, "headers": {"Authorization": "Bearer abc"}}
                  ).stdout.split()[1]  # fmt: skip

    result = runner.invoke(args=["jobs", "show", job_id])

    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["jobId"] == job_id
    assert job["headers"] == {"Authorization": "Bearer ***"}
    assert job["nextRunAt"] == "2024-01-01T12:00:30.000Z"


def test_show_and_delete_unknown_ids_fail_cleanly(runner: FlaskCliRunner) -> None:
    for args in (["jobs", "show", "nope"], ["jobs", "delete", "0123456789abcdef01234567"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "not found" in result.output
        assert "Traceback" not in result.output


def test_delete_removes_the_job(runner: FlaskCliRunner, mongo_db: Database, tmp_path: Path) -> None:
    job_id = seed(runner, tmp_path, VALID).stdout.split()[1]
    result = runner.invoke(args=["jobs", "delete", job_id])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"deleted {job_id}"
    assert mongo_db["jobs"].count_documents({}) == 0


class FakeScheduler:
    def __init__(self) -> None:
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def test_scheduler_run_starts_waits_and_closes(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = get_runtime(runner.app)
    assert runtime.scheduler is None, "building the app starts no scheduler"
    fake = FakeScheduler()
    monkeypatch.setattr(runtime, "new_scheduler", lambda: fake)
    monkeypatch.setattr(cli, "wait_for_shutdown_signal", lambda: None)

    result = runner.invoke(args=["scheduler", "run"])

    assert result.exit_code == 0, result.output
    assert runtime.scheduler is fake and fake.started and fake.stopped


def test_jobs_commands_start_no_scheduler(runner: FlaskCliRunner) -> None:
    runtime = get_runtime(runner.app)
    assert runner.invoke(args=["jobs", "list"]).exit_code == 0
    assert runtime.scheduler is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_wait_for_shutdown_signal_returns_on_a_signal(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    timer = threading.Timer(0.1, signal.raise_signal, (sig,))
    timer.start()
    cli.wait_for_shutdown_signal(poll_s=0.05)
    timer.join()
    assert signal.getsignal(sig) is before


def test_wsgi_reports_a_bad_setting_in_one_line_and_exits_3(tmp_path: Path) -> None:
    env = {**os.environ, "MAX_CONCURRENT_JOBS": "ten", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3  # gunicorn's boot-error code (CONFIG_ERROR_EXIT)
    assert result.stderr.splitlines() == [
        "configuration error: MAX_CONCURRENT_JOBS: must be a whole number (got 'ten')"
    ]


def test_gunicorn_reports_a_bad_server_setting_in_one_line_and_exits_3() -> None:
    env = {**os.environ, "PORT": "abc", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
         "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3  # gunicorn's boot-error code (CONFIG_ERROR_EXIT)
    assert result.stderr.splitlines() == [
        "configuration error: PORT: must be a whole number (got 'abc')"
    ]


@pytest.mark.parametrize("text", ['{"body": "\\ud800"}', '[{"schedule": "\\udc00"}]',
                                  '{"enabled": true, "enabled": false}'])  # fmt: skip
def test_seed_refuses_a_file_it_could_not_store_as_written(
    runner: FlaskCliRunner, mongo_db: Database, tmp_path: Path, text: str
) -> None:
    """A lone surrogate was a traceback; a repeated key kept its last value (issue 18)."""
    result = seed(runner, tmp_path, text)
    assert result.exit_code == 1
    assert "Malformed JSON body" in result.output and "Traceback" not in result.output
    assert mongo_db["jobs"].count_documents({}) == 0


def test_recount_repairs_the_job_catalog(runner: FlaskCliRunner, mongo_db: Database,
                                         tmp_path: Path) -> None:  # fmt: skip
    """Jobs written around the service: recount counts them and lists them (the catalog)."""
    assert seed(runner, tmp_path, [VALID, VALID]).exit_code == 0
    model = mongo_db["jobs"].find_one({}, {"_id": 0})
    mongo_db["jobs"].insert_many([dict(model) for _ in range(3)])
    long_ago = datetime.now(UTC) - timedelta(hours=1)  # a young one may be a job on its way
    mongo_db["job_catalog"].insert_one({"_id": ObjectId.from_datetime(long_ago), "name": "orphan"})

    result = runner.invoke(args=["jobs", "recount"])

    assert result.exit_code == 0, result.output
    assert "5 jobs" in result.stdout
    assert "catalog: 3 entries added, 0 rewritten, 1 deleted" in result.stdout
    ids = {doc["_id"] for doc in mongo_db["jobs"].find({}, {"_id": 1})}
    assert {doc["_id"] for doc in mongo_db["job_catalog"].find({}, {"_id": 1})} == ids
