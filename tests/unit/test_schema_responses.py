"""The job and execution representations the API answers with (``JobResponseSchema``,
``ExecutionResponseSchema``)."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from scheduler_service.schemas import ExecutionResponseSchema, JobResponseSchema

JOB_ID = ObjectId("65a1b2c3d4e5f6a7b8c9d0e1")


def test_job_dump_exact() -> None:
    doc = {
        "_id": JOB_ID,
        "schedule": "0 */5 * * * *",
        "endpoint": "https://api.example.com/hook",
        "method": "POST",
        "headers": {"Authorization": "Bearer secret", "Content-Type": "application/json"},
        "body": {"k": "v"},
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "retryAttempts": 3,
        "retryDelay": 5000,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "nextRunAt": datetime(2024, 1, 1, 12, 5, tzinfo=UTC),
        "lastRunAt": None,
        "createdAt": datetime(2024, 1, 1, 12, 0, 1, 7_999, tzinfo=UTC),
        "updatedAt": datetime(2024, 1, 1, 12, 0, 1, 123_456, tzinfo=UTC),
        "inflight": [{"scheduledAt": datetime(2024, 1, 1, tzinfo=UTC)}],
        "skippedTicks": 2,
    }
    dumped = JobResponseSchema().dump(doc)
    assert dumped == {
        "jobId": "65a1b2c3d4e5f6a7b8c9d0e1",
        "name": None,  # a job stored before names
        "description": None,
        "tags": [],
        "schedule": "0 */5 * * * *",
        "runAt": None,
        "timezone": None,
        "jitterMs": None,
        "startAt": None,
        "endAt": None,
        "endpoint": "https://api.example.com/hook",
        "method": "POST",
        "headers": {"Authorization": "Bearer ***", "Content-Type": "application/json"},
        "body": {"k": "v"},
        "executionType": "AT_LEAST_ONCE",
        "enabled": True,
        "retryAttempts": 3,
        "retryDelay": 5000,
        "retryDelayMax": None,  # a job stored before the field: the service fills it in
        "timeoutMs": None,
        "concurrencyPolicy": "FORBID",
        "missedRunPolicy": "COALESCE",
        "alertEndpoint": None,
        "signingSecret": None,
        "onSuccess": [],  # unchained: the lists are not stored
        "onFailure": [],
        "priority": 5,  # a job stored before priorities
        "nextRunAt": "2024-01-01T12:05:00.000Z",
        "lastRunAt": None,
        "createdAt": "2024-01-01T12:00:01.007Z",
        "updatedAt": "2024-01-01T12:00:01.123Z",
    }
    assert next(iter(dumped)) == "jobId"
    assert doc["headers"]["Authorization"] == "Bearer secret"  # stored value untouched


def test_execution_dump() -> None:
    exec_id = ObjectId("65a1b2c3d4e5f6a7b8c9d0ff")
    doc = {
        "_id": exec_id,
        "jobId": JOB_ID,
        "status": "success",
        "startedAt": datetime(2024, 1, 1, 12, 0, 0, 5_000, tzinfo=UTC),
        "completedAt": datetime(2024, 1, 1, 12, 0, 2, 5_000, tzinfo=UTC),
        "duration": 2000,
        "responseCode": 200,
        "responseBody": '{"status":"ok"}',
        "errorMessage": None,
        "attempt": 1,
        "scheduledAt": datetime(2024, 1, 1, 12, tzinfo=UTC),
        "owner": "internal",
    }
    assert ExecutionResponseSchema().dump(doc) == {
        "_id": "65a1b2c3d4e5f6a7b8c9d0ff",
        "jobId": "65a1b2c3d4e5f6a7b8c9d0e1",
        "status": "success",
        "startedAt": "2024-01-01T12:00:00.005Z",
        "completedAt": "2024-01-01T12:00:02.005Z",
        "duration": 2000,
        "responseCode": 200,
        "responseBody": '{"status":"ok"}',
        "errorMessage": None,
        "attempt": 1,
        "scheduledAt": "2024-01-01T12:00:00.000Z",
        "nextRetryDelay": None,
        "deadLettered": False,
        "triggeredBy": None,
    }


def test_execution_dump_missing_keys_are_null() -> None:
    dumped = ExecutionResponseSchema().dump({"_id": JOB_ID, "status": "running"})
    assert dumped["_id"] == str(JOB_ID)
    assert dumped["completedAt"] is None
    assert dumped["responseCode"] is None
    assert len(dumped) == 14
