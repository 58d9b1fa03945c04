"""A job created through ``POST /api/jobs`` for the API tests: ``JOB`` carries secret
header values (``SECRET``) and a templated body."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

SECRET = "Bearer s3cr3t-token"
JOB = {
    "schedule": "0 */5 * * * *",
    "endpoint": "https://api.example.com/webhook",
    "headers": {"Authorization": SECRET, "X-Api-Key": "abc123", "Accept": "text/plain"},
    "body": {"event": "scheduled_task", "timestamp": "{{timestamp}}"},
}


def create(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/jobs", json={**JOB, **overrides})
    assert response.status_code == 201, response.json
    return response.json["data"]
