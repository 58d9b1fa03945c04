"""GET /api/jobs by name and by nextRunAt on the real wire server (SecantusDB), read
between sampled jobs (``job_fences``): every job exactly once, in order, in both
directions, across a key that 250 jobs share and across the fences of every level; page
numbers agree with cursors; and no read takes the whole shared key at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.stores import job_samples
from scheduler_service.stores.job_counts import JobCounts, JobCountStore
from scheduler_service.stores.job_pages import Frontier
from scheduler_service.stores.job_walk import walk_segments
from scheduler_service.stores.jobs import JobFilter, JobStore
from tests.support.api_on_wire import api_on_wire
from tests.support.job_listing import expected_order, walk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SHARED = 250  # jobs with one name and one nextRunAt (a bulk import, one cron tick)
AROUND = 30  # jobs with keys of their own on each side of it
LIMIT = 20
SORTS = ["sort=name", "sort=-name", "sort=nextRunAt&enabled=true",
         "sort=-nextRunAt&enabled=true", "sort=nextRunAt", "sort=-nextRunAt"]  # fmt: skip


@pytest.fixture(params=[16, 2], ids=["ratio16", "ratio2"])
def ratio(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The sampling ratio: the service's, and 2 (fences of every level among few jobs)."""
    monkeypatch.setattr(job_samples, "RATIO", request.param)
    monkeypatch.setattr("scheduler_service.stores.job_walk.RATIO", request.param)
    return int(request.param)


@pytest.fixture
def api(wire_uri: str, ratio: int) -> Iterator[FlaskClient]:
    with api_on_wire(wire_uri) as app:
        yield app.test_client()


@pytest.fixture
def shared(api: FlaskClient, wire_db: Database) -> datetime:
    """``SHARED`` jobs sharing a name and a nextRunAt, ``AROUND`` before and after it by
    both, a few disabled: inserted as copies of one job made by the API, then marked and
    counted and catalogued by a recount (as jobs written around the API are)."""
    at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    response = api.post("/api/jobs", json={"runAt": at.isoformat(), "name": "shared name",
                                           "endpoint": "https://api.example.com/shared"})
    assert response.status_code == 201, response.get_json()
    model = wire_db["jobs"].find_one({"_id": ObjectId(response.get_json()["data"]["jobId"])},
                                     {"_id": 0, "sample": 0})  # fmt: skip
    assert model is not None
    copies = [dict(model) for _ in range(SHARED - 1)]
    for n in range(AROUND):
        for side, sign in (("a", -1), ("z", 1)):
            copies.append({**model, "name": f"{side} {n:03d}", "enabled": n % 7 != 3,
                           "nextRunAt": at + sign * timedelta(minutes=n + 1)})  # fmt: skip
    wire_db["jobs"].insert_many(copies)
    JobStore(wire_db).recount()  # marks and counts them, and catalogs them for the list
    return at


def complete(page: dict[str, Any]) -> None:
    assert page["pagination"]["complete"] is True


@pytest.mark.parametrize("query", SORTS)
def test_a_walk_lists_every_job_once_across_a_shared_key(
    api: FlaskClient, wire_db: Database, shared: datetime, query: str
) -> None:
    seen = walk(api, query, LIMIT, on_page=complete)
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert seen == expected_order(wire_db, query)


@pytest.mark.parametrize("query", ["sort=name", "sort=-nextRunAt&enabled=true"])
def test_page_numbers_agree_with_the_cursor(
    api: FlaskClient, wire_db: Database, shared: datetime, query: str
) -> None:
    order = expected_order(wire_db, query)
    for page in (1, 2, 7, 15, 16):
        response = api.get(f"/api/jobs?limit={LIMIT}&page={page}&{query}")
        ids = [job["jobId"] for job in response.get_json()["data"]]
        assert ids == order[(page - 1) * LIMIT:page * LIMIT], page


FILTERED = ["sort=name&tag=none", "sort=-name&enabled=false", "sort=nextRunAt&q=z%200",
            "sort=-nextRunAt&q=shared"]


@pytest.mark.parametrize("query", FILTERED)
def test_filters_keep_the_order_by_name_and_next_run(
    api: FlaskClient, wire_db: Database, shared: datetime, query: str
) -> None:
    expected = expected_order(wire_db, query.replace("%20", " "))
    assert walk(api, query, LIMIT, on_page=complete) == expected


@pytest.mark.parametrize("sort", ["name", "-name", "nextRunAt", "-nextRunAt"])
def test_no_read_takes_the_shared_key_whole(
    wire_db: Database, shared: datetime, sort: str
) -> None:
    """Each page reads about what it lists: the fences inside the shared key bound it."""
    selection = JobFilter(sort=sort)
    counts = JobCountStore(wire_db).read() or JobCounts()
    segments = selection.segments(datetime.now(UTC), counts)
    frontier: Frontier | None = Frontier()
    pages = 0
    while frontier is not None and pages < 100:
        result = walk_segments(wire_db["job_catalog"], wire_db["jobs"], segments, frontier,
                               LIMIT, selection.admits, 10**6)  # fmt: skip
        # The jobs read: the page's, up to the fences as far ahead as it wants (1 job in
        # ``ratio`` at random: 16 apart on average), never the 250 at once.
        assert result.scanned < SHARED, result.scanned
        frontier = result.frontier
        pages += 1
    assert frontier is None


def test_names_beyond_ascii_and_long_ones_walk_in_code_point_order(
    api: FlaskClient, wire_db: Database
) -> None:
    """Names sort by code point (MongoDB's binary order); a cursor holding a name of 200
    characters that JSON escapes is still taken back."""
    names = ["Zürich", "zebra", "Ärger", "äpfel", "日本", "emoji 🙂", "a" * 200, "A", "B"]
    names += ["ü" * 100 + "🙂" * 100] * 25  # a page ends among these
    for name in names:
        response = api.post("/api/jobs", json={"schedule": "0 0 * * * *", "name": name,
                                               "endpoint": "https://api.example.com/n"})
        assert response.status_code == 201, response.get_json()
    for query in ("sort=name", "sort=-name"):
        assert walk(api, query, LIMIT, on_page=complete) == expected_order(wire_db, query)


def test_a_database_of_an_earlier_version_is_marked_in_the_background(
    wire_db: Database, shared: datetime
) -> None:
    """Counts without ``sampled`` and jobs without marks (as before samples): the next
    start marks them in a thread (a worker's start has a deadline), then notes it."""
    from scheduler_service.stores.jobs import JobStore

    wire_db["jobs"].update_many({}, {"$unset": {"sample": ""}})
    wire_db["job_counts"].update_one({"_id": "jobs"}, {"$unset": {"sampled": ""}})
    JobStore(wire_db).ensure_indexes()
    wait_until(lambda: (JobCountStore(wire_db).read() or JobCounts()).sampled,
               message="the jobs marked")  # fmt: skip
    for job in wire_db["jobs"].find({}, ["sample"]):
        assert job.get("sample") == job_samples.level(job["_id"])
    assert wire_db["jobs"].count_documents({"sample": {"$gt": 0}}) > 0
