"""``GET /api/openapi.json``: a valid OpenAPI 3.1 document that covers every route of the
app, and whose response schemas accept what the API really answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from tests.support.openapi import check_response, spec_of

UNDOCUMENTED_ENDPOINTS = {"static"}  # Flask's static files: the app ships none
# The dashboard (HTML pages at /ui/, and / redirecting there) is not part of the API.
DASHBOARD_ENDPOINTS = ("ui.", "ui_root")
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # answered by Flask itself for every route


def openapi_path(rule: str) -> str:
    """``/api/jobs/<job_id>`` -> ``/api/jobs/{jobId}``."""

    def camel(match: re.Match[str]) -> str:
        head, *rest = match.group(1).split("_")
        return "{" + head + "".join(part.title() for part in rest) + "}"

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", camel, rule)


def app_operations(app: Flask) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNDOCUMENTED_ENDPOINTS
        and not rule.endpoint.startswith(DASHBOARD_ENDPOINTS)
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }


def spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    spec = spec_of(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_route_is_documented_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    assert spec_operations(spec_of(client)) == app_operations(app)


def test_every_operation_documents_the_error_envelope(client: FlaskClient) -> None:
    spec = spec_of(client)
    for path, method in spec_operations(spec):
        responses = spec["paths"][path][method]["responses"]
        if not path.startswith("/api/"):
            continue
        assert "500" in responses, (path, method)
        error = responses["500"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_request_bodies_and_query_parameters_come_from_the_schemas(client: FlaskClient) -> None:
    spec = spec_of(client)
    create = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    job_create = spec["components"]["schemas"]["JobCreate"]
    assert set(job_create["required"]) == {"endpoint"}
    assert job_create["oneOf"] == [{"required": ["schedule"]}, {"required": ["runAt"]}]
    assert job_create["additionalProperties"] is False  # unknown fields are a 400
    assert job_create["properties"]["retryAttempts"] == {
        "type": "integer", "minimum": 0, "maximum": 10
    }  # fmt: skip
    assert job_create["properties"]["headers"]["maxProperties"] == 50
    assert spec["components"]["schemas"]["JobUpdate"]["minProperties"] == 1
    listing = spec["paths"]["/api/jobs"]["get"]["parameters"]
    maxima = {p["name"]: p["schema"].get("maximum") for p in listing}
    assert maxima == {"page": 1_000_000_000, "limit": 100, "tag": None, "enabled": None,
                      "q": None, "sort": None, "cursor": None}  # fmt: skip
    tag = next(p for p in listing if p["name"] == "tag")
    assert tag["schema"]["items"]["pattern"] == "^[A-Za-z0-9_.:-]{1,64}$"


def test_security_is_documented_only_when_keys_are_configured(
    config: Config, mongo_db: Any, client: FlaskClient
) -> None:
    assert "securitySchemes" not in spec_of(client).get("components", {})
    keyed_config = config.with_overrides(api_keys=("k" * 32,), secret_key="s" * 32)
    keyed = create_app(open_runtime(keyed_config, database=mongo_db))
    spec = spec_of(keyed.test_client())
    validate(spec)
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    jobs = spec["paths"]["/api/jobs"]["get"]
    assert jobs["security"] == [{"bearer": []}] and "401" in jobs["responses"]
    health = spec["paths"]["/api/observability/health"]["get"]
    assert "security" not in health and "401" not in health["responses"]


@pytest.mark.parametrize("job", [
    {"schedule": "*/5 * * * * *", "endpoint": "http://127.0.0.1:9/hook"},
    {"schedule": "0 0 * * *", "endpoint": "https://example.com/x", "method": "get",
     "headers": {"Authorization": "Bearer secret", "X-A": "b"}, "body": {"a": [1, None]},
     "enabled": False, "retryAttempts": 0, "retryDelay": 0},
])  # fmt: skip
def test_real_answers_fit_the_document(client: FlaskClient, job: dict[str, Any]) -> None:
    spec = spec_of(client)
    created = client.post("/api/jobs", json=job)
    check_response(spec, "/api/jobs", "post", created)
    job_id = created.get_json()["data"]["jobId"]
    item = "/api/jobs/{jobId}"
    calls = [
        ("/api/jobs", "get", "/api/jobs?page=1&limit=5"),
        ("/api/jobs", "get", "/api/jobs?limit=0"),
        ("/api/jobs", "post", "/api/jobs"),
        (item, "get", f"/api/jobs/{job_id}"),
        (item, "get", "/api/jobs/not-an-id"),
        (item, "put", f"/api/jobs/{job_id}"),
        (item + "/run", "post", f"/api/jobs/{job_id}/run"),
        (item + "/executions", "get", f"/api/jobs/{job_id}/executions?limit=3"),
        (item + "/executions", "get", "/api/jobs/ffffffffffffffffffffffff/executions"),
        ("/api/observability/health", "get", "/api/observability/health"),
        ("/api/observability/stats", "get", "/api/observability/stats"),
        ("/api/observability/failures", "get", "/api/observability/failures?limit=x"),
        ("/api/schedules/preview", "get", "/api/schedules/preview?schedule=@daily&count=50"),
        ("/api/schedules/preview", "get", "/api/schedules/preview?schedule=x&timezone=Mars/X"),
        (item, "delete", f"/api/jobs/{job_id}"),
        (item, "delete", f"/api/jobs/{job_id}"),
    ]
    for path, method, url in calls:
        kwargs: dict[str, Any] = {}
        if method == "put":
            kwargs["json"] = {"schedule": "@hourly", "enabled": True}
        elif method == "post" and path == "/api/jobs":
            kwargs["json"] = {"schedule": "0 0 0 30 2 *", "endpoint": "ftp://x", "extra": 1}
        check_response(spec, path, method, client.open(url, method=method.upper(), **kwargs))
    check_response(spec, "/api/jobs", "post", client.post("/api/jobs", data="x"))


def test_the_document_is_built_once_per_app(app: Flask, client: FlaskClient) -> None:
    first = spec_of(client)
    assert spec_of(client) == first
    assert app.extensions["openapi_spec"] is not None
