"""Query-string parameters (``request.args``: strings); unknown parameters are ignored."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# MongoDB's skip is a 64-bit integer: (page - 1) * limit must fit, or the driver raises.
MAX_PAGE = 1_000_000_000


def _limit() -> fields.Integer:
    return fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))


class LimitQuerySchema(Schema):
    """``?limit=``: 1 to 100, default 20."""

    class Meta:
        unknown = EXCLUDE

    limit = _limit()


class PageQuerySchema(LimitQuerySchema):
    """``?page=&limit=``: page 1 to 10^9, default 1."""

    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
