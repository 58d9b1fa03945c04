"""Query-string parameters (``request.args``: strings); unknown parameters are ignored."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from scheduler_service.schemas.fields import Tag

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# MongoDB's skip is a 64-bit integer: (page - 1) * limit must fit, or the driver raises.
MAX_PAGE = 1_000_000_000


_DIGITS = re.compile(r"[0-9]{1,12}")


class QueryInteger(fields.Integer):
    """A whole number written with the ASCII digits 0-9 only. Python's ``int()`` would also
    take ``+5``, `` 5``, ``1_0`` and other scripts' digits (``\u0665``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not _DIGITS.fullmatch(value):
            raise ValidationError("Must be a whole number written with the digits 0-9.")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryBoolean(fields.Boolean):
    """``true`` or ``false`` and nothing else (marshmallow's Boolean would also take ``1``,
    ``yes``, ``on``, ...); a bool passed by the CLI is taken as it is."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("Must be true or false.")


def _limit() -> fields.Integer:
    return QueryInteger(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))


class QuerySchema(Schema):
    """Query parameters, each given at most once unless listed in ``REPEATABLE``."""

    REPEATABLE: frozenset[str] = frozenset()

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _once_each(self, data: Any, **kwargs: Any) -> Any:
        """``?limit=5&limit=500`` is a 400, not the first value silently."""
        getlist = getattr(data, "getlist", None)  # request.args is a MultiDict
        if getlist is not None:
            names = [field.data_key or name for name, field in self.fields.items()]
            repeated = {name: ["Given more than once."] for name in names
                        if name not in self.REPEATABLE and len(getlist(name)) > 1}  # fmt: skip
            if repeated:
                raise ValidationError(repeated)
            if self.REPEATABLE:  # a plain dict, with every value of a repeatable one
                return {name: getlist(name) if name in self.REPEATABLE else data[name]
                        for name in names if name in data}  # fmt: skip
        return data


class LimitQuerySchema(QuerySchema):
    """``?limit=``: 1 to 100, default 20."""

    limit = _limit()


class PageQuerySchema(LimitQuerySchema):
    """``?page=&limit=``: page 1 to 10^9, default 1."""

    page = QueryInteger(load_default=1, validate=validate.Range(1, MAX_PAGE))


class WriteQuerySchema(QuerySchema):
    """``POST /api/jobs?allowPast=true``, ``PUT``: a ``runAt`` in the past fires now."""

    allowPast = QueryBoolean(load_default=False)


SORTS = ("createdAt", "-createdAt", "nextRunAt", "-nextRunAt", "name", "-name")


class JobListQuerySchema(PageQuerySchema):
    """``GET /api/jobs``: ``tag`` (repeatable: all must match), ``enabled``, ``q`` (a
    case-insensitive substring of name or endpoint), ``sort`` (default ``-createdAt``)."""

    REPEATABLE = frozenset({"tag"})

    tag = fields.List(Tag(), validate=validate.Length(max=20))
    enabled = QueryBoolean()
    q = fields.String(validate=validate.Length(1, 200))
    sort = fields.String(load_default="-createdAt", validate=validate.OneOf(SORTS))
    # ``nextCursor`` of a previous page of the same query (``services/job_cursor.py``,
    # whose MAX_LENGTH this is: a cursor by name holds the name).
    cursor = fields.String(validate=validate.Length(1, 3400), metadata={
        "description": "`pagination.nextCursor` of the previous page of the same query "
        "(not with `page`): the next page, read from where that one ended"})
