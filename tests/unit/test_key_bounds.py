"""``key_bounds``: a bound at the key next to it, the same range on whole-millisecond dates
and on names (the wire tests of ``due_ticks``, ``job_pages`` and ``job_fences`` show what it
spares on SecantusDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from scheduler_service.stores.key_bounds import after, inclusive

T = datetime(2024, 1, 1, 12, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_the_key_after() -> None:
    assert after(T) == T + MS
    assert after("job") == "job\x00"
    assert sorted(["job", "job\x00", "job ", "jo", "jobs"]) == ["jo", "job", "job\x00", "job ",
                                                               "jobs"]  # fmt: skip


def test_inclusive_bounds_as_exclusive_ones() -> None:
    assert inclusive(T, upper=True) == {"$lt": T + MS}
    assert inclusive(T, upper=False) == {"$gt": T - MS}
    assert inclusive("job", upper=True) == {"$lt": "job\x00"}
    assert inclusive("job", upper=False) == {"$gte": "job"}  # no name just before another


@pytest.mark.parametrize("key", [T, "job"])
def test_the_same_documents_as_the_plain_operators(key: datetime | str) -> None:
    """On a query engine without SecantusDB's difference (mongomock): every bound matches
    exactly what ``$lte``, ``$gte`` and ``$gt`` match, over keys around the bound."""
    near = ([T + n * MS for n in range(-3, 4)] if isinstance(key, datetime)
            else ["jo", "job", "job\x00", "job\x00\x00", "joba", "jobs", "joc"])  # fmt: skip
    collection = mongomock.MongoClient(tz_aware=True).db.c
    collection.insert_many([{"k": value} for value in near])

    def keys(bound: dict[str, object]) -> list[object]:
        return sorted(d["k"] for d in collection.find({"k": bound}))

    assert keys(inclusive(key, upper=True)) == keys({"$lte": key})
    assert keys(inclusive(key, upper=False)) == keys({"$gte": key})
    assert keys({"$gte": after(key)}) == keys({"$gt": key})
