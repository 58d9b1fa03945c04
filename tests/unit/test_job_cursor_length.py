"""A ``nextCursor`` the API hands out must fit back into a request: gunicorn refuses a
request line over 4,094 bytes (414). A cursor by name holds the name; JSON's ASCII escapes
made each 4-byte character 12 characters (16 in base64), so a 200-character name of them
took 3,331 characters and, with a ``q`` of the same characters (percent-encoded, 12 each),
the next page's request could not be sent."""

from __future__ import annotations

from urllib.parse import quote

from bson import ObjectId

from scheduler_service.services import job_cursor
from scheduler_service.stores.job_pages import Frontier
from scheduler_service.stores.jobs import JobFilter

GUNICORN_REQUEST_LINE = 4094
NAMES = ["\U0001f600" * 200, 'a"\\\x01\u00e9\u4e2d' * 40, "plain name"]


def test_a_cursor_by_name_round_trips() -> None:
    for name in NAMES:
        selection = JobFilter(q=name[:3], sort="-name")
        frontier = Frontier(key=name, id=ObjectId(), spacing_ms=5.0)
        cursor = job_cursor.encode(selection, frontier, 3)
        assert job_cursor.decode(selection, cursor) == (frontier, 3)


def test_the_next_page_of_a_query_by_name_fits_in_a_request_line() -> None:
    name = "\U0001f600" * 200  # the longest name, of 4-byte characters
    selection = JobFilter(q=name, sort="name")
    cursor = job_cursor.encode(selection, Frontier(key=name, id=ObjectId()), 2)
    line = f"GET /api/jobs?limit=100&sort=name&q={quote(name)}&cursor={cursor} HTTP/1.1"
    assert len(line.encode()) <= GUNICORN_REQUEST_LINE, len(cursor)
