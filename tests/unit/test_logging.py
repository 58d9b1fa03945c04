"""Logs: one line per request and per execution, text or JSON, never a secret."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service import configure_logging, create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.redaction import redact_url, redact_urls
from scheduler_service.errors import ConfigError
from scheduler_service.logging_setup import TEXT_FORMAT, JsonFormatter
from tests.unit.test_metrics import fire_once

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "api-key-SECRET-0123456789"
SECRETS = [
    API_KEY,
    "hdr-SECRET-authorization",
    "hdr-SECRET-apikey",
    "hdr-SECRET-cookie",
    "url-SECRET-password",
    "query-SECRET-token",
    "redirect-SECRET-password",
    "redirect-SECRET-signature",
]


def test_json_formatter_writes_one_parseable_line_per_record() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x.y", logging.ERROR, __file__, 1, "two\nlines %s", ("arg",),
                                   sys.exc_info())  # fmt: skip
    record.status = 201  # as given with extra=
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines arg"
    assert entry["level"] == "ERROR" and entry["logger"] == "x.y"
    assert entry["status"] == 201
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("Z") and len(entry["time"]) == 24


def test_log_format_json_makes_every_line_json(tmp_path: Path) -> None:
    """A real process: LOG_FORMAT=json from the environment, a few requests, stderr read."""
    script = textwrap.dedent(f"""
        import mongomock
        from scheduler_service import create_app, open_runtime
        from scheduler_service.config import Config

        config = Config.from_env(scheduler_enabled=False)
        app = create_app(open_runtime(config, database=mongomock.MongoClient(tz_aware=True)["db"]))
        client = app.test_client()
        client.get("/api/observability/health")
        client.get("/api/jobs", headers={{"Authorization": "Bearer {API_KEY}"}})
        client.get("/api/jobs", headers={{"Authorization": "Bearer wrong-0123456789abcdef"}})
        client.post("/api/jobs", data="not json", content_type="application/json",
                    headers={{"Authorization": "Bearer {API_KEY}"}})
        app.logger.error("a\\nmultiline message")
    """)
    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
           "API_KEYS": API_KEY, "SECRET_KEY": "s" * 32, "PYTHONPATH": str(REPO_ROOT)}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    entries = [json.loads(line) for line in lines]  # every line parses
    access = [e for e in entries if e["logger"] == "scheduler_service.access"]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("GET", "/api/observability/health", 200),
        ("GET", "/api/jobs", 200),
        ("GET", "/api/jobs", 401),
        ("POST", "/api/jobs", 400),
    ]
    assert all(e["client"] == "127.0.0.1" and e["durationMs"] >= 0 for e in access)
    assert any(e["message"] == "a\nmultiline message" for e in entries)
    assert API_KEY not in done.stderr and "wrong-0123456789abcdef" not in done.stderr


def test_no_secret_reaches_any_log_record(
    mongo_db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    config = Config(scheduler_enabled=False, api_keys=(API_KEY,))
    app = create_app(open_runtime(config, database=mongo_db, clock=clock))
    client: FlaskClient = app.test_client()
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    redirect = (
        "HTTP 302 Found (redirect not followed: Location "
        "https://user:redirect-SECRET-password@example.org/next?sig=redirect-SECRET-signature)"
    )
    failure = AttemptOutcome(False, 302, "", False, redirect, False, duration_ms=7)

    fire_once(
        client, monkeypatch, outcome=failure, request_headers=auth, retryAttempts=0,
        endpoint="https://user:url-SECRET-password@example.com/hook?token=query-SECRET-token",
        headers={"Authorization": "Bearer hdr-SECRET-authorization",
                 "X-Api-Key": "hdr-SECRET-apikey", "Cookie": "s=hdr-SECRET-cookie"},
    )  # fmt: skip
    job_id = client.get("/api/jobs", headers=auth).get_json()["data"][0]["jobId"]
    client.get(f"/api/jobs/{job_id}?token=query-SECRET-token", headers=auth)
    client.get("/api/jobs", headers={"Authorization": f"Bearer {API_KEY}x"})  # a near miss

    assert any("redirect not followed" in r.getMessage() for r in caplog.records)
    assert any(r.name == "scheduler_service.access" for r in caplog.records)
    text, as_json = logging.Formatter(TEXT_FORMAT), JsonFormatter()
    for record in caplog.records:
        rendered = " ".join([text.format(record), as_json.format(record), repr(vars(record))])
        for secret in SECRETS:
            assert secret not in rendered, (secret, record.getMessage())


def test_one_access_line_per_request_without_query_or_control_characters(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler_service.access")
    client.get("/api/jobs?page=1&token=abc123", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    client.get("/api/nope%0aFAKE 200 line")
    access = [r for r in caplog.records if r.name == "scheduler_service.access"]
    assert len(access) == 2
    first, second = access
    assert first.getMessage().startswith("GET /api/jobs 200 ")
    assert first.getMessage().endswith(" ms 10.1.2.3")
    assert "abc123" not in first.getMessage()
    assert "\n" not in second.getMessage()
    assert "\\x0aFAKE" in second.getMessage()
    assert vars(second)["status"] == 404


def test_redact_urls() -> None:
    assert redact_url("https://u:p@host.example:8443/a/b?token=x#frag") == (
        "https://host.example:8443/a/b?***"
    )
    assert redact_url("http://[::1]:80/") == "http://[::1]:80/"
    assert redact_urls("invalid URL: 'http://a:b@h/p?q=1' and https://h2/x") == (
        "invalid URL: 'http://h/p?***' and https://h2/x"
    )
    assert redact_urls(None) is None
    assert redact_urls("connection refused") == "connection refused"


def test_configure_logging_formats_its_own_handler() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        configure_logging("warning", "json")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.WARNING
        configure_logging("INFO", "text")
        assert root.handlers == [handler]
        assert not isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_log_format_setting() -> None:
    assert Config.from_env({}).log_format == "text"
    assert Config.from_env({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match=r"^LOG_FORMAT: "):
        Config.from_env({"LOG_FORMAT": "xml"})
