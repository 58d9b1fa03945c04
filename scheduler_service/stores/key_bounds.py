"""Range bounds at a key, written so that SecantusDB reads what MongoDB reads.

On a compound index whose bounded field is not its last (``enabled_1_nextRunAt_1__id_1``,
``createdAt_-1__id_-1``, ``name_1__id_1``), SecantusDB differs from MongoDB twice:

- an inclusive bound at the end of the index range (``$lte`` on an ascending field,
  ``$gte`` on a descending one) drops the documents at the bound itself (measured: a job
  due at the poll's horizon was not due; ``$gte`` on a descending ``createdAt`` missed the
  jobs created in that very millisecond);
- an exclusive lower bound (``$gt``) reads the documents at the bound, then drops them
  (0.7 s for 5,000 jobs sharing one ``nextRunAt``).

MongoDB does neither: its index bounds take in the bound's documents for ``$lte`` and
``$gte``, and start past them for ``$gt``. So the bound is put at the key next to it, which
on MongoDB is the same range at the same cost: dates are whole milliseconds, so ``<= t`` is
``< t + 1 ms`` and ``>= t`` is ``> t - 1 ms``, and the least name after ``s`` is
``s + "\\x00"``. ``inclusive`` writes the first; ``{"$gte": after(k)}`` is ``> k``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

K = TypeVar("K", datetime, str)

_MS = timedelta(milliseconds=1)


def after(key: K) -> K:
    """The least key after ``key``: a date 1 ms later, a name with a NUL appended."""
    return key + _MS if isinstance(key, datetime) else key + "\x00"


def inclusive(key: datetime | str, *, upper: bool) -> dict[str, Any]:
    """``{"$lte": key}`` (``upper``) or ``{"$gte": key}``, as an exclusive bound at the key
    next to it (no name comes just before another: a name's ``$gte`` stays)."""
    if upper:
        return {"$lt": after(key)}
    if isinstance(key, str):
        return {"$gte": key}
    return {"$gt": key - _MS}
