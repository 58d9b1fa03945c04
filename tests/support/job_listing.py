"""GET /api/jobs as the wire tests of the list read it: jobs made for listing, a cursor
walk, and the order a query must list, read whole from the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from pymongo.database import Database

# Each shape of query the list has: sorts, filters and both.
QUERIES = ["", "sort=createdAt", "sort=nextRunAt", "sort=-nextRunAt", "sort=name",
           "sort=-name", "tag=billing", "enabled=false", "tag=billing&enabled=true",
           "q=reports", "sort=nextRunAt&enabled=true", "sort=-nextRunAt&tag=billing"]  # fmt: skip


def create(api: FlaskClient, n: int, **fields: Any) -> str:
    """Job ``n`` of a varied set (run times, names, tags, enabled), through the API."""
    run_at = datetime.now(UTC) + timedelta(days=1, minutes=(n * 37) % 101)
    body = {"runAt": run_at.isoformat(), "endpoint": f"https://api.example.com/j{n}",
            "name": f"job {n:03d} {'billing' if n % 3 == 0 else 'reports'}",
            "tags": ["billing"] if n % 3 == 0 else [], "enabled": n % 4 != 0, **fields}  # fmt: skip
    response = api.post("/api/jobs", json=body)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["data"]["jobId"])


def expected_order(db: Database, query: str) -> list[str]:
    """The job ids the query selects, in its order, read whole from the database."""
    args = dict(part.split("=") for part in query.split("&") if part)
    selected: dict[str, Any] = {}
    if "tag" in args:
        selected["tags"] = args["tag"]
    if "enabled" in args:
        selected["enabled"] = args["enabled"] == "true"
    documents = list(db["jobs"].find(selected))
    if "q" in args:
        documents = [doc for doc in documents if args["q"] in doc["searchText"]]
    sort = args.get("sort", "-createdAt")
    field, reverse = sort.lstrip("-"), sort.startswith("-")
    if field == "nextRunAt":  # disabled jobs (no next run) first, by createdAt
        def key(doc: dict[str, Any]) -> tuple[Any, ...]:
            if doc["enabled"]:
                return (1, doc["nextRunAt"], doc["_id"])
            return (0, doc["createdAt"], doc["_id"])
    elif field == "name":  # a job stored before names has none: listed as named ""
        def key(doc: dict[str, Any]) -> tuple[Any, ...]:
            return (doc.get("name") or "", doc["_id"])
    else:
        def key(doc: dict[str, Any]) -> tuple[Any, ...]:
            return (doc[field], doc["_id"])
    return [str(doc["_id"]) for doc in sorted(documents, key=key, reverse=reverse)]


def walk(api: FlaskClient, query: str, limit: int,
         on_page: Callable[[dict[str, Any]], object] | None = None) -> list[str]:  # fmt: skip
    """The job ids a cursor walk lists, page by page of ``limit``; ``on_page`` is called
    with each page's body. Bounded: 100 pages."""
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        suffix = f"&cursor={cursor}" if cursor else ""
        response = api.get(f"/api/jobs?limit={limit}&{query}{suffix}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [job["jobId"] for job in body["data"]]
        cursor = body["pagination"]["nextCursor"]
        if on_page is not None:
            on_page(body)
        if cursor is None:
            return seen
    raise AssertionError("the walk did not end")
