"""The New job / Edit job form: its fields, and the form's text turned into the API's JSON
payload. Validation is the service's (the API's schemas); this module only parses text.

Only the fields the job schema has are shown, so a field added to the API appears here
once it is listed in ``FIELDS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from scheduler_service.api.body import parse_json
from scheduler_service.delivery.masking import is_secret_header, mask_value
from scheduler_service.errors import InvalidInput
from scheduler_service.records import DEFAULT_PRIORITY
from scheduler_service.runtime import get_runtime
from scheduler_service.schemas import JobCreateSchema, JobUpdateSchema, load_or_raise
from scheduler_service.schemas.jobs import METHODS
from scheduler_service.schemas.query import QueryInteger

# A number field's text: the digits 0-9 only, as the API's query integers (``int()`` would
# take "+5", " 5", "1_0" and other scripts' digits); its range is the job schema's.
_WHOLE_NUMBER = QueryInteger()


@dataclass(frozen=True)
class Field:
    key: str  # the API's field name
    label: str
    kind: str = "text"  # text, url, select, lines (headers), json, int, tags
    hint: str = ""


FIELDS = (
    Field("name", "Name"),
    Field("description", "Description", "textarea"),
    Field("schedule", "Schedule", hint="Cron: sec min hour day month weekday, or 5 fields"),
    Field("timezone", "Time zone", hint="IANA name, e.g. Europe/Berlin"),
    Field("endpoint", "Endpoint", "url", hint="http:// or https:// URL"),
    Field("method", "Method", "select"),
    Field("headers", "Headers", "lines", hint="One per line: Name: value"),
    Field("body", "Body", "json", hint="JSON; {{timestamp}} becomes the tick's time"),
    Field("retryAttempts", "Retry attempts", "int"),
    Field("retryDelay", "Retry delay (ms)", "int"),
    Field("priority", "Priority", "int", hint="1 to 10, higher first"),
    Field("tags", "Tags", "tags", hint="Comma-separated"),
    Field("onSuccess", "On success", "tags",
          hint="Job ids, comma-separated: each runs once when a tick succeeds for good"),
    Field("onFailure", "On failure", "tags",
          hint="Job ids, comma-separated: each runs once when a tick is dead-lettered"),
)


def form_fields() -> list[Field]:
    """The fields the API's job schema accepts now."""
    known = JobCreateSchema().fields
    return [field for field in FIELDS if field.key in known]


def methods() -> tuple[str, ...]:
    return METHODS


def placeholders() -> dict[str, str]:
    """What an empty field means: the service's defaults."""
    config = get_runtime().config
    return {
        "retryAttempts": f"{config.job_retry_attempts} (the default)",
        "retryDelay": f"{config.job_retry_delay_ms} (the default)",
        "priority": f"{DEFAULT_PRIORITY} (the default)",
        "schedule": "e.g. */30 * * * * * (every 30 s)",
        "endpoint": "e.g. https://example.com/hook",
    }


def values_of(job: dict[str, Any]) -> dict[str, str]:
    """A job's representation (masked) as the form's text."""
    values: dict[str, str] = {}
    for field in form_fields():
        value = job.get(field.key)
        if value is None:
            values[field.key] = ""
        elif field.kind == "lines":
            values[field.key] = "\n".join(f"{name}: {text}" for name, text in value.items())
        elif field.kind == "json":
            values[field.key] = json.dumps(value, indent=2, ensure_ascii=False)
        elif field.kind == "tags":
            values[field.key] = ", ".join(value)
        else:
            values[field.key] = str(value)
    return values


def _headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"Line {number} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def _parse(field: Field, text: str) -> Any:
    if field.kind == "lines":
        return _headers(text)
    if field.kind == "json":
        return parse_json(text.encode()) if text.strip() else None
    if field.kind == "int":
        return _WHOLE_NUMBER.deserialize(text)  # ValidationError names what is wrong
    if field.kind == "tags":
        return [tag.strip() for tag in text.split(",") if tag.strip()]
    if field.kind == "select":
        return text.upper()
    return text.strip()


def payload_from(
    form: MultiDict[str, str], current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON payload for create (``current`` None) or update (only what changed, given
    the job's masked representation). Text that does not parse (JSON, header lines) raises
    InvalidInput naming its fields, with the schema's messages for the other fields too.
    """
    payload: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    shown = values_of(current) if current is not None else {}
    for field in form_fields():
        if current is not None and field.key not in form:
            continue  # not on the form sent: unchanged
        text = form.get(field.key, "")
        if current is not None and text.strip() == shown.get(field.key, "").strip():
            continue  # unchanged
        if current is None and not text.strip():
            continue  # left empty: the API's default
        try:
            payload[field.key] = _parse(field, text)
        except InvalidInput as exc:
            errors[field.key] = [message for ms in exc.details.values() for message in ms]
        except ValidationError as exc:
            errors[field.key] = list(exc.messages)
        except ValueError as exc:
            errors[field.key] = [str(exc)]
    if errors:
        schema = JobCreateSchema() if current is None else JobUpdateSchema(partial=True)
        try:
            load_or_raise(schema, payload)
        except InvalidInput as exc:
            errors = {**{k: v for k, v in exc.details.items() if k != "_schema"}, **errors}
        names = ", ".join(sorted(errors))
        raise InvalidInput(f"Invalid request: check {names}", details=errors)
    return payload


def keep_masked_secrets(headers: dict[str, str], stored: dict[str, str]) -> dict[str, str]:
    """Header values still showing the mask of the stored secret keep the stored value."""
    kept = dict(headers)
    by_name = {name.lower(): value for name, value in stored.items()}
    for name, value in headers.items():
        previous = by_name.get(name.lower())
        if previous is not None and is_secret_header(name) and value == mask_value(previous):
            kept[name] = previous
    return kept
