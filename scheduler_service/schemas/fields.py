"""Custom marshmallow fields: the strictness JSON input needs, and the contract's output forms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import bson
import bson.errors
from marshmallow import ValidationError, fields, validate

from scheduler_service import cron
from scheduler_service.clock import iso_utc, to_millis
from scheduler_service.cron_zones import check_zone
from scheduler_service.delivery.masking import MASK, mask_headers, mask_url
from scheduler_service.delivery.signing import secret_problem
from scheduler_service.errors import InvalidSchedule, InvalidTimezone
from scheduler_service.schemas import headers as header_rules

MAX_URL_LENGTH = 2048
MAX_HEADERS = header_rules.MAX_HEADERS
MAX_BODY_BSON_BYTES = 8 * 1024 * 1024  # half of MongoDB's 16 MiB per document
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
    """An ASCII string normalized to upper case before validation (``post`` -> ``POST``).
    Only ASCII: Unicode case mapping turns ``po\\u017ft`` (long s) into ``POST`` too."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.isascii():
            raise ValidationError("Must be ASCII letters.")
        return text.upper()


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


TAG_RE = r"[A-Za-z0-9_.:-]{1,64}\Z"


class Tag(fields.String):
    """A job's tag: 1 to 64 of ``A-Z a-z 0-9 _ . : -``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Regexp(
            TAG_RE, error="A tag is 1 to 64 of A-Z a-z 0-9 _ . : -"), **kwargs)  # fmt: skip


class Tags(fields.List):
    """A list of tags, each kept once, in the order given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Tag(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        tags = super()._deserialize(value, attr, data, **kwargs)
        return list(dict.fromkeys(tags))


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

    # marshmallow compiles its URL regex (every Unicode letter) on first use, 0.3-0.6 s of
    # CPU: at import, so that a worker's first request does not pay it.
    validate.URL._regex(relative=False, absolute=True, require_tld=False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            schemes={"http", "https"}, require_tld=False, validate=_check_url_parts, **kwargs
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_URL_LENGTH:  # before the validators: no regex over a megabyte
            raise ValidationError(f"Longer than maximum length {MAX_URL_LENGTH}.")
        return text


def _validator(problem: Callable[[str], str | None]) -> Callable[[str], None]:
    def check(text: str) -> None:
        message = problem(text)
        if message is not None:
            raise ValidationError(message)

    return check


class Headers(fields.Dict):
    """An object of header name to string value that can be stored and sent as given
    (the rules are in ``headers.py``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(validate=_validator(header_rules.name_problem)),
            values=fields.String(validate=_validator(header_rules.value_problem)),
            validate=validate.Length(
                max=MAX_HEADERS, error=f"At most {MAX_HEADERS} headers are allowed."
            ),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        repeated = header_rules.repeated_names(loaded)
        if repeated:
            raise ValidationError(
                f"Each header name once, whatever its case: {', '.join(repeated)} repeats one."
            )
        return loaded


class JobBody(fields.Raw):
    """Any JSON value whose stored form fits in a job document: MongoDB refuses documents
    over 16 MiB, and BSON can take six times the bytes of compact JSON (``[0,0,...]``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            size = len(bson.encode({"body": value}))
        except (bson.errors.BSONError, UnicodeEncodeError, OverflowError, TypeError) as exc:
            raise ValidationError("This value cannot be stored.") from exc
        if size > MAX_BODY_BSON_BYTES:
            raise ValidationError(
                f"Stored as BSON this body takes {size} bytes, over the limit of "
                f"{MAX_BODY_BSON_BYTES} (8 MiB)."
            )
        return value


class MaskedUrl(fields.Field):
    """Dump-only: a URL with its userinfo, query values and fragment masked."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else mask_url(str(value))


class SigningSecret(fields.String):
    """A Standard Webhooks secret: ``whsec_`` and 24 to 64 bytes in base64."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = secret_problem(text) if len(text) <= 200 else "must be at most 200 characters"
        if problem is not None:
            raise ValidationError(f"Not a signing secret: it {problem}.")
        return text


class MaskedSecret(fields.Field):
    """Dump-only: a secret set shows as ``***``; none as null."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else MASK


class MaskedHeaders(fields.Field):
    """Dump-only: headers with secret values masked (see ``masking.py``)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return mask_headers(value) if isinstance(value, Mapping) else {}


class IsoDateTime(fields.Field):
    """Dump-only: ``2024-01-01T12:05:00.000Z``, or null."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return iso_utc(value)


class JobIdList(fields.List):
    """A list of job ids (24 hex digits each, loaded as ObjectIds, each kept once, in the
    order given), at most ``max_length`` (``onSuccess``/``onFailure``)."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        item = fields.String(validate=validate.Regexp(
            r"[0-9a-fA-F]{24}\Z", error="Not a valid job id (24 hex digits)."))
        # The validator shows the bound in the OpenAPI document (maxItems); the bound is
        # checked on the list as given, repeats included, before any item.
        super().__init__(item, validate=validate.Length(max=max_length), **kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[bson.ObjectId]:  # fmt: skip
        if isinstance(value, list) and len(value) > self.max_length:
            raise ValidationError(f"At most {self.max_length} jobs are allowed.")
        ids = [bson.ObjectId(text) for text in super()._deserialize(value, attr, data, **kwargs)]
        return list(dict.fromkeys(ids))


class ObjectIdString(fields.Field):
    """Dump-only: an ObjectId as its 24 hex digits, or null."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)
