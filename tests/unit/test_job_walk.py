"""The fenced and the windowed walks' count of the jobs it read (``job_walk.walk_fenced``), which an
estimated total (``JobStore._total``: the page's jobs over the jobs scanned) rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database

from scheduler_service.stores.job_pages import END, EPOCH, Frontier, Segment, walk
from scheduler_service.stores.job_samples import FIELD, level
from scheduler_service.stores.job_walk import walk_segments

JOBS = 640
FENCE_EVERY = 64  # a level-1 fence (exactly) at every 64th job by name


def _id_of_level(wanted: int | None) -> ObjectId:
    while True:  # 15 ids in 16 have no mark, 1 in 17 of the others is above level 1
        job_id = ObjectId()
        if level(job_id) == wanted:
            return job_id


def test_jobs_read_past_the_page_are_not_counted_as_scanned(database: Database) -> None:
    """1 job in 4 matches, fences 64 jobs apart: a page of 3 reads up to the second fence
    (128 jobs) but its 3 jobs are the first 9 by name, so 9 are scanned, not 128 (with 128,
    a q matching 160 of 640 jobs was estimated at 15)."""
    jobs = database["jobs"]
    documents = []
    for n in range(JOBS):
        fence = n % FENCE_EVERY == FENCE_EVERY - 1
        document = {"_id": _id_of_level(1 if fence else None), "name": f"n{n:04d}",
                    "enabled": True}  # fmt: skip
        if fence:
            document[FIELD] = 1
        documents.append(document)
    jobs.insert_many(documents)
    segment = Segment({}, "name", ASCENDING, EPOCH, END, fenced=True)

    result = walk_segments(jobs, jobs, [segment], Frontier(), 3,
                           lambda doc: int(doc["name"][1:]) % 4 == 0, 10**6)  # fmt: skip

    assert [doc["name"] for doc in result.items] == ["n0000", "n0004", "n0008"]
    assert result.scanned == 9
    assert result.frontier is not None and result.frontier.key == "n0008"


def test_a_windowed_walk_does_not_count_the_jobs_read_past_its_page(database: Database) -> None:
    """The same for the ``createdAt`` windows (``job_pages.walk``): jobs 1 ms apart, 1 in 4
    matching; the first window reads about 22 jobs for a page of 3, which are the first 9
    (with 22, a q matching 205 jobs was estimated at 97)."""
    jobs = database["jobs"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    jobs.insert_many([{"name": f"n{n:04d}", "enabled": True,
                       "createdAt": start + timedelta(milliseconds=n)} for n in range(JOBS)])
    segment = Segment({}, "createdAt", ASCENDING, start - timedelta(milliseconds=1), END)

    result = walk(jobs, segment, Frontier(), 3, lambda doc: int(doc["name"][1:]) % 4 == 0,
                  10**6)  # fmt: skip

    assert [doc["name"] for doc in result.items] == ["n0000", "n0004", "n0008"]
    assert result.scanned == 9
