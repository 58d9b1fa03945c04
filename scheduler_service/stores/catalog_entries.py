"""A job's entry in ``job_catalog`` (``job_catalog.py``) as its document says: what it
holds, how it is compared, and when an entry without its job may go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from scheduler_service.stores.job_samples import FIELD, level

FIELDS = ["name", "tags", "createdAt", "enabled", "searchText", "updatedAt"]
LISTED = ["name", "tags", "createdAt", "enabled", "searchText"]  # a walk reads these
ENDS = "endsAt"  # ``ends_at``
JOB_FIELDS = [*FIELDS, "schedule", "nextRunAt", "runAt", "endAt"]  # what ``entry`` reads
CATALOGUED = frozenset({"name", "tags", "enabled", "searchText"})  # rewrite the entry
# An entry without its job is deleted (by a list or a repair) only once its id is older
# than this: the job may be on its way (a create writes the entry first, then the job,
# within the request's database deadline, seconds); clocks of processes may differ by up
# to MAX_CLOCK_SKEW.
ORPHAN_GRACE_S = 600.0


def entry(document: dict[str, Any]) -> dict[str, Any]:
    """A job document's catalog entry (a job of an earlier version without tags: [],
    without a name: ""), with its sample mark (``job_samples``) when it has one, and
    ``endsAt`` while the scheduler is to disable it (``ends_at``)."""
    made = {"_id": document["_id"], **{name: document.get(name) for name in FIELDS}}
    made["tags"] = list(made["tags"] or [])
    made["enabled"] = bool(made["enabled"])
    made["name"] = made["name"] or ""
    sampled = level(document["_id"])
    if sampled is not None:
        made[FIELD] = sampled
    ends = ends_at(document)
    if ends is not None:
        made[ENDS] = ends
    return made


def ends_at(document: dict[str, Any]) -> datetime | None:
    """When the claim or skip that disables an enabled job is due (a one-off: its tick;
    a job with ``endAt``: then at the latest). None: no tick of it disables it, or it
    is disabled."""
    if not document.get("enabled"):
        return None
    if document.get("schedule") is None:  # a one-off
        ends: datetime | None = document.get("nextRunAt") or document.get("runAt")
        return ends
    return document.get("endAt")


def orphans(job_ids: list[Any], now: datetime) -> list[Any]:
    """Of entries whose job is not in ``jobs``, those to delete: made (their ``_id``)
    over ``ORPHAN_GRACE_S`` ago. A newer one may be a job being created (the entry is
    written first, the job within the request's deadline); deleting it then would leave
    the job unlisted for good."""
    return [job_id for job_id in job_ids if not isinstance(job_id, ObjectId)
            or (now - job_id.generation_time).total_seconds() > ORPHAN_GRACE_S]  # fmt: skip


def differs(present: dict[str, Any], made: dict[str, Any]) -> bool:
    """Whether an entry says of its job other than the job's document does (``made``),
    ``updatedAt`` aside: a change of a field the catalog does not hold moves the job's
    ``updatedAt`` and leaves the entry as it was, rightly."""
    return any(present.get(name) != made.get(name)
               for name in [*FIELDS, FIELD, ENDS] if name != "updatedAt")  # fmt: skip


def rewrites(changed: set[str], document: dict[str, Any]) -> bool:
    """Whether a change of the fields ``changed`` (the job now ``document``) changes its
    entry: a catalogued field, or when it ends (``ends_at``: a one-off's tick, a
    schedule or ``endAt``). A change of another field leaves the entry as it is (with an
    older ``updatedAt`` than its job's)."""
    if changed & CATALOGUED or changed & {"schedule", "endAt"}:
        return True
    return "nextRunAt" in changed and document.get("schedule") is None
