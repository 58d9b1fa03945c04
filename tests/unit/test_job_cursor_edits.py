"""A cursor edited by its client, its digest recomputed so that it still reads as one of
the query's: anything it holds that the query's walk cannot have written (a key of another
type than its sort's, a segment the order does not have) is the contract's 400 naming
``cursor``, never a page (an empty one passes for the end of the list), and changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.services import job_cursor
from scheduler_service.stores.job_counts import JobCounts
from scheduler_service.stores.job_pages import Frontier
from scheduler_service.stores.jobs import JobFilter
from tests.support.api_jobs import create

AT = datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("sort", "frontier"), [
    ("name", Frontier(key=AT, id=ObjectId())),  # a time where a name goes
    ("-name", Frontier(key=AT, id=ObjectId())),
    ("createdAt", Frontier(key="job 1", id=ObjectId())),  # a name where a time goes
    ("-createdAt", Frontier(key="job 1", id=ObjectId())),
    ("nextRunAt", Frontier(segment=1, key="job 1", id=ObjectId())),
    ("createdAt", Frontier(segment=1, key=AT, id=ObjectId())),  # a segment it has not
    ("name", Frontier(segment=1, key="job 1", id=ObjectId())),
])  # fmt: skip
def test_an_edited_cursor_of_the_query_is_a_400_naming_it(
    client: FlaskClient, database: Database, sort: str, frontier: Frontier
) -> None:
    for n in range(3):
        create(client, name=f"job {n}")
    before = list(database.jobs.find())
    cursor = job_cursor.encode(JobFilter(sort=sort), frontier, 2)
    response = client.get(f"/api/jobs?limit=2&sort={sort}&cursor={cursor}")
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert "cursor" in body["error"]["details"]
    assert list(database.jobs.find()) == before


@pytest.mark.parametrize(("sort", "frontier"), [
    ("name", Frontier(key="job 1", id=ObjectId())),
    ("-createdAt", Frontier(key=AT, id=ObjectId())),
    ("nextRunAt", Frontier(segment=1, key=AT, id=ObjectId())),
    ("-nextRunAt", Frontier(segment=1, key=None)),
])  # fmt: skip
def test_a_cursor_the_walk_could_have_written_is_taken(
    client: FlaskClient, sort: str, frontier: Frontier
) -> None:
    cursor = job_cursor.encode(JobFilter(sort=sort), frontier, 2)
    assert client.get(f"/api/jobs?limit=2&sort={sort}&cursor={cursor}").status_code == 200


@pytest.mark.parametrize("sort", ["name", "-name", "createdAt", "-createdAt", "nextRunAt",
                                  "-nextRunAt"])  # fmt: skip
@pytest.mark.parametrize("enabled", [None, True, False])
def test_segment_count_is_the_number_of_segments(sort: str, enabled: bool | None) -> None:
    """What ``decode`` checks a cursor's segment against."""
    selection = JobFilter(sort=sort, enabled=enabled)
    assert selection.segment_count == len(selection.segments(AT, JobCounts()))
