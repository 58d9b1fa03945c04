"""Custom marshmallow fields: the strictness JSON input needs, and the contract's output forms."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate

from scheduler_service import cron
from scheduler_service.clock import iso_utc, to_millis
from scheduler_service.cron_zones import check_zone
from scheduler_service.delivery.masking import mask_headers
from scheduler_service.errors import InvalidSchedule, InvalidTimezone

MAX_URL_LENGTH = 2048
MAX_HEADERS = 50
MAX_HEADER_VALUE_LENGTH = 8 * 1024
# RFC 9110 token: the characters a header name may use.
HEADER_NAME_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z"
# The instants an input may name (``runAt``, ``startAt``, ``endAt``, a preview's ``from``).
EARLIEST_INPUT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INPUT_TIME = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


class StrictBoolean(fields.Boolean):
    """Only JSON ``true``/``false``. (``Boolean(truthy={True})`` would still take 1: 1 == True.)"""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class UpperString(fields.String):
    """A string normalized to upper case before validation (``post`` -> ``POST``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class Schedule(fields.String):
    """A cron expression, validated and normalized by ``cron.parse``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return cron.parse(text)
        except InvalidSchedule as exc:
            raise ValidationError(exc.message) from exc


class Timezone(fields.String):
    """An IANA time zone name (``Europe/Paris``), checked against the zone database."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return check_zone(text)
        except InvalidTimezone as exc:
            raise ValidationError(exc.message) from exc


class InstantInput(fields.String):
    """An ISO 8601 date and time with ``Z`` or an offset (``2026-03-08T07:00:00Z``),
    loaded as aware UTC truncated to milliseconds (what MongoDB stores)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 64:
            raise ValidationError("Not an ISO 8601 date and time.")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValidationError(
                "Not an ISO 8601 date and time (2026-03-08T07:00:00Z).") from exc
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValidationError("Give a UTC offset or Z (2026-03-08T07:00:00Z).")
        try:
            instant = to_millis(parsed.astimezone(UTC))
        except OverflowError as exc:
            raise ValidationError("Out of range.") from exc
        if not EARLIEST_INPUT_TIME <= instant <= LATEST_INPUT_TIME:
            raise ValidationError("Must be between 1970-01-01 and 2999-12-31 (UTC).")
        return instant


def _check_url_parts(url: str) -> None:
    """What marshmallow's URL regex lets through: control characters, bad ports."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ValidationError("URL must not contain control characters.")
    try:
        urlsplit(url).port  # noqa: B018 - evaluated for its ValueError on 0-65535 overflow
    except ValueError as exc:
        raise ValidationError("Not a valid URL port.") from exc


class HttpUrl(fields.Url):
    """An absolute http(s) URL with a host; localhost, dotless names and IPs are allowed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            schemes={"http", "https"}, require_tld=False, validate=_check_url_parts, **kwargs
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_URL_LENGTH:  # before the validators: no regex over a megabyte
            raise ValidationError(f"Longer than maximum length {MAX_URL_LENGTH}.")
        return text


def _check_header_value(value: str) -> None:
    if any(char in value for char in "\r\n\x00"):
        raise ValidationError("Header values must not contain CR, LF or NUL.")
    try:
        value.encode("latin-1")  # http.client sends header values as Latin-1
    except UnicodeEncodeError as exc:
        raise ValidationError("Header values must be ISO-8859-1 (Latin-1) text.") from exc


class Headers(fields.Dict):
    """An object of header name to string value, sized and safe to put on the wire."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(
                validate=validate.Regexp(HEADER_NAME_RE, error="Not a valid HTTP header name.")
            ),
            values=fields.String(
                validate=[validate.Length(max=MAX_HEADER_VALUE_LENGTH), _check_header_value]
            ),
            validate=validate.Length(
                max=MAX_HEADERS, error=f"At most {MAX_HEADERS} headers are allowed."
            ),
            **kwargs,
        )


class MaskedHeaders(fields.Field):
    """Dump-only: headers with secret values masked (see ``masking.py``)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return mask_headers(value) if isinstance(value, Mapping) else {}


class IsoDateTime(fields.Field):
    """Dump-only: ``2024-01-01T12:05:00.000Z``, or null."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return iso_utc(value)


class ObjectIdString(fields.Field):
    """Dump-only: an ObjectId as its 24 hex digits, or null."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)
