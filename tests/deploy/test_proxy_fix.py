"""TRUST_PROXY: behind nginx the client's address, scheme and host come from the one hop of
X-Forwarded-* that nginx sets (werkzeug's ProxyFix); without it those headers are ignored.
Runs with `make test` (no nginx needed)."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.errors import ConfigError

FORWARDED = {
    # a client-supplied value first, then the one nginx appended ($proxy_add_x_forwarded_for)
    "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "scheduler.example.com",
}


def probe_app(config: Config, mongo_db: Database, trust_proxy: bool) -> Flask:
    runtime = open_runtime(config.with_overrides(trust_proxy=trust_proxy), database=mongo_db)
    app = create_app(runtime)

    @app.get("/_probe")
    def probe() -> object:
        return jsonify(addr=request.remote_addr, scheme=request.scheme, host=request.host)

    return app


def test_forwarded_headers_are_trusted_one_hop_with_trust_proxy(
    config: Config, mongo_db: Database
) -> None:
    client = probe_app(config, mongo_db, True).test_client()
    seen = client.get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert seen.get_json() == {
        "addr": "198.51.100.7", "scheme": "https", "host": "scheduler.example.com"
    }  # fmt: skip


def test_forwarded_headers_are_ignored_by_default(config: Config, mongo_db: Database) -> None:
    assert Config().trust_proxy is False
    client = probe_app(config, mongo_db, False).test_client()
    seen = client.get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert seen.get_json() == {"addr": "10.1.2.3", "scheme": "http", "host": "localhost"}


def test_trust_proxy_setting() -> None:
    assert Config.from_env({"TRUST_PROXY": "true"}).trust_proxy is True
    assert Config.from_env({"TRUST_PROXY": "off"}).trust_proxy is False
    with pytest.raises(ConfigError, match="TRUST_PROXY"):
        Config.from_env({"TRUST_PROXY": "maybe"})
