"""Issue 18: gunicorn takes no forwarding header from a client on 127.0.0.1 (it trusts that
address by default), however it is started: a SCRIPT_NAME header was a 500. And a doubled
slash is a 404 behind gunicorn too. Real gunicorn processes against the wire server."""

from __future__ import annotations

import pytest
import requests

from tests.support.processes import ProcessGroup, service_env

FORWARDING = [
    {"SCRIPT_NAME": "/x"},
    {"SCRIPT_NAME": "/api"},
    {"PATH_INFO": "/api/observability/health"},
    {"SCRIPT_NAME": "/api", "PATH_INFO": "/jobs"},
]


@pytest.mark.parametrize("plain", [False, True], ids=["deploy-conf", "plain-gunicorn"])
def test_forwarding_headers_from_loopback_are_ignored(
    wire_uri: str, group: ProcessGroup, plain: bool
) -> None:
    api = group.gunicorn("api", service_env(wire_uri, SCHEDULER_ENABLED="false"), plain=plain)
    group.wait_ready()
    for headers in FORWARDING:
        answer = requests.get(f"{api.base_url}/api/jobs?limit=1", headers=headers, timeout=10)
        assert answer.status_code == 200, (headers, answer.text)
        assert answer.json()["pagination"]["limit"] == 1
    for path in ("//api/jobs", "///api/jobs", "/api//jobs"):
        session = requests.Session()
        request = session.prepare_request(requests.Request("GET", f"{api.base_url}{path}"))
        assert request.path_url == path
        answer = session.send(request, timeout=10)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "NOT_FOUND"
