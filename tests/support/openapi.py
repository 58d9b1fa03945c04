"""The service's OpenAPI document as the app serves it, and a check that a real answer is
documented and fits its schema (for the API tests)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator


def spec_of(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    return answer.get_json()


def check_response(spec: dict[str, Any], path: str, method: str, answer: Any) -> None:
    """The answer's status is documented for the operation and its body fits the schema."""
    responses = spec["paths"][path][method]["responses"]
    status = str(answer.status_code)
    assert status in responses, f"{method.upper()} {path} answered undocumented {status}"
    schema = responses[status]["content"]["application/json"]["schema"]
    document = {**schema, "components": spec["components"]}
    errors = list(OAS31Validator(document, format_checker=OAS31Validator.FORMAT_CHECKER)
                  .iter_errors(answer.get_json()))  # fmt: skip
    assert not errors, f"{method.upper()} {path} {status}: {[e.message for e in errors]}"
