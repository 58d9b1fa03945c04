"""The writes of an attempt's end that go in group commits: its record, and the release of
the settled tick (a retry is scheduled instead with a write of its own). ``BatchedWrites``
(the scheduler's) sends each kind in group commits across worker threads;
``DirectWrites`` sends each on its own (one attempt at a time, tests).

An attempt writes nothing when it starts: the claim already recorded it as running, with
its owner and lease, in the job's in-flight entry (measured on SecantusDB: a ``running``
record inserted before the request and updated after it cost 2.2 times the database CPU
per tick of one record written at the end, with three processes writing)."""

from __future__ import annotations

import functools

from bson import ObjectId

from scheduler_service.records import ExecutionRecord
from scheduler_service.scheduler.group_commit import GroupCommit
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.ticks import TickStore


class DirectWrites:
    def __init__(self, executions: ExecutionStore, ticks: TickStore, owner: str) -> None:
        self._executions = executions
        self._ticks = ticks
        self._owner = owner

    def record(self, record: ExecutionRecord) -> None:
        [error] = self._executions.record_many([record])
        if error is not None:
            raise error

    def drop_entry(self, job_id: ObjectId, entry_id: ObjectId) -> None:
        self._ticks.drop_entry(job_id, entry_id, self._owner)

    def close(self) -> None:
        pass


class BatchedWrites:
    def __init__(self, executions: ExecutionStore, ticks: TickStore, owner: str) -> None:
        self._records: GroupCommit[ExecutionRecord, None] = GroupCommit(
            executions.record_many, "writes-record"
        )
        self._drops: GroupCommit[tuple[ObjectId, ObjectId], None] = GroupCommit(
            functools.partial(ticks.drop_entries, owner=owner), "writes-release"
        )

    def record(self, record: ExecutionRecord) -> None:
        """Write an ended attempt's record."""
        self._records.submit(record)

    def drop_entry(self, job_id: ObjectId, entry_id: ObjectId) -> None:
        self._drops.submit((job_id, entry_id))

    def close(self) -> None:
        for group in (self._records, self._drops):
            group.close()
