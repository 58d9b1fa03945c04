"""GET /api/jobs's windowed walk and cursors, and the job counts, on the real wire server
(SecantusDB): every job exactly once across pages, in order, while jobs are created
meanwhile; the counts equal real counts after creates, deletes, enables, retags and the
claim that ends a one-off; a bad cursor is a 400 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from scheduler_service.records import Entry
from scheduler_service.stores.job_counts import JobCountStore
from scheduler_service.stores.jobs import JobStore
from scheduler_service.stores.ticks import TickStore
from tests.support.api_on_wire import api_on_wire
from tests.support.job_listing import QUERIES, create, expected_order, walk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

JOBS = 45
LIMIT = 7


@pytest.fixture
def api(wire_uri: str) -> Iterator[FlaskClient]:
    with api_on_wire(wire_uri) as app:
        yield app.test_client()


@pytest.fixture
def jobs(api: FlaskClient) -> list[str]:
    return [create(api, n) for n in range(JOBS)]


@pytest.mark.parametrize("query", QUERIES)
def test_a_cursor_walk_lists_every_job_once_in_order(
    api: FlaskClient, wire_db: Database, jobs: list[str], query: str
) -> None:
    assert walk(api, query, LIMIT) == expected_order(wire_db, query)


@pytest.mark.parametrize("query", ["", "sort=createdAt", "sort=-nextRunAt", "tag=billing"])
def test_jobs_created_during_a_walk_change_nothing_already_listed(
    api: FlaskClient, wire_db: Database, jobs: list[str], query: str
) -> None:
    before = expected_order(wire_db, query)
    made: list[str] = []
    seen = walk(api, query, LIMIT, on_page=lambda _: made.append(create(api, 1000 + len(made))))
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert [job for job in seen if job in before] == before  # each once, in order
    assert set(seen) - set(before) <= set(made)


def test_page_numbers_walk_the_same_order(
    api: FlaskClient, wire_db: Database, jobs: list[str]
) -> None:
    for query in ["", "sort=nextRunAt", "tag=billing", "q=reports"]:
        order = expected_order(wire_db, query)
        for page in (1, 2, 4):
            response = api.get(f"/api/jobs?limit={LIMIT}&page={page}&{query}")
            ids = [job["jobId"] for job in response.get_json()["data"]]
            assert ids == order[(page - 1) * LIMIT:page * LIMIT], (query, page)
            pagination = response.get_json()["pagination"]
            assert pagination["page"] == page
            if pagination["totalExact"]:
                assert pagination["total"] == len(order)
            else:  # q: estimated from the share of the jobs read that matched
                assert query.startswith("q=") and pagination["total"] >= len(ids)


def counted(db: Database) -> dict[str, Any]:
    jobs = db["jobs"]
    return {"total": jobs.count_documents({}), "enabled": jobs.count_documents({"enabled": True}),
            "billing": jobs.count_documents({"tags": "billing"}),
            "eu": jobs.count_documents({"tags": "eu"})}  # fmt: skip


def reported(api: FlaskClient) -> dict[str, Any]:
    stats = api.get("/api/observability/stats").get_json()["data"]["jobs"]

    def total(query: str) -> int:
        pagination = api.get(f"/api/jobs?{query}").get_json()["pagination"]
        assert pagination["totalExact"] is True
        return int(pagination["total"])

    assert total("") == stats["total"]
    assert total("enabled=true") == stats["enabled"]
    assert total("enabled=false") == stats["total"] - stats["enabled"]
    return {"total": stats["total"], "enabled": stats["enabled"],
            "billing": total("tag=billing"), "eu": total("tag=eu")}  # fmt: skip


def test_counts_equal_real_counts_after_every_kind_of_change(
    api: FlaskClient, wire_db: Database, jobs: list[str]
) -> None:
    assert reported(api) == counted(wire_db)
    for job_id in jobs[:5]:
        assert api.delete(f"/api/jobs/{job_id}").status_code == 200
    for job_id in jobs[5:10]:
        assert api.put(f"/api/jobs/{job_id}", json={"enabled": False}).status_code == 200
    for job_id in jobs[10:16]:
        assert api.put(f"/api/jobs/{job_id}", json={"enabled": True}).status_code == 200
    for job_id in jobs[16:22]:
        changed = api.put(f"/api/jobs/{job_id}", json={"tags": ["eu", "billing"]})
        assert changed.status_code == 200
    api.put(f"/api/jobs/{jobs[22]}", json={"tags": []})
    api.put(f"/api/jobs/{jobs[23]}", json={"name": "renamed"})  # counts nothing
    assert api.delete(f"/api/jobs/{jobs[0]}").status_code == 404  # gone: counted once
    assert reported(api) == counted(wire_db)


def test_the_claim_of_a_last_tick_counts_the_job_disabled(
    api: FlaskClient, wire_db: Database, jobs: list[str]
) -> None:
    ticks = TickStore(wire_db)
    enabled = [job for job in ticks.jobs_by_id([ObjectId(j) for j in jobs]) if job.enabled]
    claimed = enabled[:3]
    for job in claimed:  # one-offs: no tick after this one
        now = datetime.now(UTC)
        entry = Entry.scheduled(job.next_run_at, owner="test", now=now, lease=timedelta(minutes=1))
        assert ticks.claim_tick(job, entry, None, forbid_overlap=False,
                                started_at=datetime.now(UTC))  # fmt: skip
    # The claims' count changes are this client's, written within FLUSH_AFTER_S (the app
    # reads with a client of its own).
    def settled() -> bool:
        try:
            return reported(api) == counted(wire_db)
        except AssertionError:  # read while the claims' changes were being written
            return False

    wait_until(settled, message="counts after claims")


def test_recount_puts_right_what_was_written_around_the_counts(
    api: FlaskClient, wire_db: Database, jobs: list[str]
) -> None:
    wire_db["jobs"].delete_many({"tags": "billing"})  # around the API: the counts are stale
    assert reported(api) != counted(wire_db)
    JobCountStore(wire_db).recount(wire_db["jobs"])
    assert reported(api) == counted(wire_db)


def test_a_bad_cursor_is_a_400_naming_it(api: FlaskClient, jobs: list[str]) -> None:
    first = api.get("/api/jobs?limit=5&tag=billing").get_json()["pagination"]["nextCursor"]
    assert first
    for query in ["cursor=not-a-cursor", "cursor=eyJ2IjoxfQ", f"cursor={first}",
                  f"cursor={first}&tag=billing&page=2", f"cursor={first[:-3]}&tag=billing",
                  f"cursor={first}&tag=billing&sort=name"]:  # fmt: skip
        response = api.get(f"/api/jobs?{query}")
        assert response.status_code == 400, query
        body = response.get_json()
        assert body["error"]["code"] == "VALIDATION_ERROR"
        assert "cursor" in body["error"]["details"], query
    assert api.get(f"/api/jobs?limit=5&tag=billing&cursor={first}").status_code == 200


def test_stats_and_lists_read_no_job_to_count(
    api: FlaskClient, wire_db: Database, jobs: list[str]
) -> None:
    """The counts come from job_counts: a job inserted around the API is not counted (so
    the figures did not come from counting the jobs), until a recount."""
    wire_db["jobs"].insert_one({**wire_db["jobs"].find_one({}, {"_id": 0}), "enabled": True})
    assert reported(api)["total"] == JOBS
    JobCountStore(wire_db).recount(wire_db["jobs"])
    assert reported(api)["total"] == JOBS + 1


def test_sorted_orders_match_mongodb_semantics(wire_db: Database, jobs: list[str]) -> None:
    """The expectation itself: SecantusDB sorts as the walk assumes (createdAt, then _id)."""
    direct = [str(doc["_id"]) for doc in wire_db["jobs"].find().sort(
        [("createdAt", DESCENDING), ("_id", DESCENDING)])]  # fmt: skip
    assert direct == expected_order(wire_db, "")
    ascending = [str(doc["_id"]) for doc in wire_db["jobs"].find().sort(
        [("name", ASCENDING), ("_id", ASCENDING)])]  # fmt: skip
    assert ascending == expected_order(wire_db, "sort=name")


@pytest.mark.parametrize("query", ["", "sort=createdAt", "sort=nextRunAt&enabled=true",
                                   "sort=-nextRunAt", "sort=name"])  # fmt: skip
def test_jobs_sharing_one_key_are_listed_once_each(
    api: FlaskClient, wire_db: Database, query: str
) -> None:
    """Thirty jobs with one createdAt, one nextRunAt and one name (a bulk import, one cron
    tick): a window cannot split them, pages go on from the last job read."""
    model = wire_db["jobs"].find_one({"_id": ObjectId(create(api, 1))}, {"_id": 0})
    assert model is not None and model["enabled"]
    wire_db["jobs"].insert_many([dict(model) for _ in range(30)])
    JobStore(wire_db).recount()  # around the API: count them, and list them (the catalog)
    seen = walk(api, query, LIMIT)
    assert seen == expected_order(wire_db, query)
    assert len(seen) == len(set(seen)) == 31


@pytest.mark.parametrize("query", ["sort=name", "sort=-name", "sort=name&enabled=true",
                                   "sort=-name&q=reports"])  # fmt: skip
def test_jobs_stored_without_a_name_are_listed_by_name(
    api: FlaskClient, wire_db: Database, jobs: list[str], query: str
) -> None:
    """Jobs of a version before names (no ``name`` field), catalogued by a recount (as an
    upgrade's repair does): listed by name as if named "", once each, by cursor and by
    page number, shown as ``GET /api/jobs/:id`` shows them."""
    model = wire_db["jobs"].find_one({"_id": ObjectId(jobs[1])}, {"_id": 0, "name": 0,
                                                                  "sample": 0})  # fmt: skip
    assert model is not None and model["enabled"]
    unnamed = wire_db["jobs"].insert_many([dict(model) for _ in range(10)]).inserted_ids
    JobStore(wire_db).recount()
    order = expected_order(wire_db, query)
    assert {str(i) for i in unnamed} <= set(order)
    seen = walk(api, query, LIMIT)
    assert seen == order
    assert len(seen) == len(set(seen))
    for page in (1, 2, 3):
        response = api.get(f"/api/jobs?limit={LIMIT}&page={page}&{query}")
        assert response.status_code == 200, response.get_json()
        listed = response.get_json()["data"]
        assert [job["jobId"] for job in listed] == order[(page - 1) * LIMIT:page * LIMIT]
        for job in listed:  # shown as GET /api/jobs/:id shows it (name "")
            if ObjectId(job["jobId"]) in unnamed:
                assert job == api.get(f"/api/jobs/{job['jobId']}").get_json()["data"]
                assert job["name"] == ""


@pytest.mark.parametrize("direction", [ASCENDING, DESCENDING])
def test_a_window_starting_at_a_jobs_own_millisecond_holds_it(
    wire_db: Database, jobs: list[str], direction: int
) -> None:
    """A window's near bound at a job's createdAt keeps the job (SecantusDB dropped jobs at
    an inclusive bound on enabled_1_createdAt_-1__id_-1, where createdAt is neither the
    first field nor the last)."""
    from scheduler_service.stores.job_pages import END, EPOCH, Frontier, Segment, walk

    ordered = list(wire_db["job_catalog"].find({"enabled": True}, ["createdAt"]).sort(
        [("createdAt", direction), ("_id", direction)]))  # fmt: skip
    at = ordered[10]
    segment = Segment({"enabled": True}, "createdAt", direction, EPOCH, END, exact=True)
    result = walk(wire_db["job_catalog"], segment, Frontier(key=at["createdAt"]), 5, None, 10**6)
    assert [doc["_id"] for doc in result.items] == [
        doc["_id"] for doc in ordered[10:] if doc["createdAt"] >= at["createdAt"]
        or direction == DESCENDING][:5]
