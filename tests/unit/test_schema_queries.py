"""The list endpoints' query strings: page and limit (``PageQuerySchema``,
``LimitQuerySchema``)."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from scheduler_service.errors import InvalidInput
from scheduler_service.schemas import LimitQuerySchema, PageQuerySchema, load_or_raise


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, {"page": 1, "limit": 20}),
        ({"page": "3", "limit": "100"}, {"page": 3, "limit": 100}),
        ({"limit": "1", "sort": "x"}, {"page": 1, "limit": 1}),
    ],
)
def test_page_query(args: dict[str, str], expected: dict[str, int]) -> None:
    assert PageQuerySchema().load(args) == expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": ""}, "page"),
        ({"page": str(10**30)}, "page"),  # (page - 1) * limit must fit MongoDB's int64 skip
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_page_query_errors(args: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_or_raise(PageQuerySchema(), args)
    assert list(info.value.details) == [field]


def test_limit_query() -> None:
    assert LimitQuerySchema().load({"limit": "5", "page": "2"}) == {"limit": 5}
    assert LimitQuerySchema().load({}) == {"limit": 20}
    with pytest.raises(ValidationError) as info:
        LimitQuerySchema().load({"limit": "1.5"})
    assert list(info.value.messages) == ["limit"]


def test_a_query_parameter_given_twice_is_an_error() -> None:
    args = MultiDict([("limit", "5"), ("limit", "500"), ("page", "1"), ("x", "1"), ("x", "2")])
    with pytest.raises(InvalidInput) as info:
        load_or_raise(PageQuerySchema(), args)
    assert info.value.details == {"limit": ["Given more than once."]}
    assert load_or_raise(PageQuerySchema(), MultiDict([("page", "2")])) == {"page": 2, "limit": 20}
