"""The three writes every attempt makes: the ``running`` record, its result, and the release
of the settled tick. ``BatchedWrites`` (the scheduler's) sends each kind in group commits
across worker threads; ``DirectWrites`` sends each on its own (one attempt at a time, tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from scheduler_service.models.executions import ExecutionStore
from scheduler_service.models.ticks import TickStore
from scheduler_service.scheduler.group_commit import GroupCommit


class DirectWrites:
    def __init__(self, executions: ExecutionStore, ticks: TickStore) -> None:
        self._executions = executions
        self._ticks = ticks

    def start(
        self, job_id: ObjectId, scheduled_at: datetime, attempt: int, started_at: datetime
    ) -> ObjectId:
        return self._executions.start(job_id, scheduled_at, attempt, started_at)

    def finish(self, execution_id: ObjectId, result: dict[str, Any]) -> None:
        self._executions.finish(execution_id, result)

    def drop_entry(self, job_id: ObjectId, entry_id: ObjectId) -> None:
        self._ticks.drop_entry(job_id, entry_id)

    def close(self) -> None:
        pass


class BatchedWrites:
    def __init__(self, executions: ExecutionStore, ticks: TickStore) -> None:
        self._starts: GroupCommit[tuple[ObjectId, datetime, int, datetime], ObjectId] = (
            GroupCommit(executions.start_many, "writes-start")
        )
        self._finishes: GroupCommit[tuple[ObjectId, dict[str, Any]], None] = GroupCommit(
            executions.finish_many, "writes-finish"
        )
        self._drops: GroupCommit[tuple[ObjectId, ObjectId], None] = GroupCommit(
            ticks.drop_entries, "writes-release"
        )

    def start(
        self, job_id: ObjectId, scheduled_at: datetime, attempt: int, started_at: datetime
    ) -> ObjectId:
        """Insert the attempt as ``running``; raises ``DuplicateAttempt`` like the store."""
        return self._starts.submit((job_id, scheduled_at, attempt, started_at))

    def finish(self, execution_id: ObjectId, result: dict[str, Any]) -> None:
        self._finishes.submit((execution_id, result))

    def drop_entry(self, job_id: ObjectId, entry_id: ObjectId) -> None:
        self._drops.submit((job_id, entry_id))

    def close(self) -> None:
        for group in (self._starts, self._finishes, self._drops):
            group.close()
