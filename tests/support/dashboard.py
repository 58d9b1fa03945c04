"""The dashboard's forms through Flask's test client: a valid job form, the CSRF token a
page carries, a form posted with it, and a job created through the form."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

FORM = {
    "schedule": "0 */5 * * * *",
    "endpoint": "https://example.com/hook",
    "method": "POST",
    "headers": "Authorization: Bearer hunter2-secret\nX-Trace: on",
    "body": '{"hello": "{{timestamp}}"}',
    "retryAttempts": "2",
    "retryDelay": "1000",
}


def csrf_of(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, str], token_from: str) -> object:
    return client.post(path, data={**data, "csrf_token": csrf_of(client, token_from)})


def create_job(client: FlaskClient, **changes: str) -> str:
    response = post_form(client, "/ui/jobs/new", {**FORM, **changes}, "/ui/jobs/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]
