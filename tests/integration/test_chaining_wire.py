"""Chained jobs end to end: the real wire server, the scheduler running, a real HTTP target
on 127.0.0.1, the real clock. A parent's success runs its onSuccess jobs once, with the
parent's outcome in the body and ``triggeredBy`` in their records; a dead-lettered tick
runs its onFailure jobs; a replay that succeeds runs onSuccess; deleting a job removes it
from the lists; bad lists are 400s that change nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.runtime import get_runtime
from tests.support.http_target import HttpTarget
from tests.support.in_process import created_job, executions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

NEVER = "0 0 0 1 1 *"  # once a year: only manual and chained runs fire here
CHILD_BODY = {
    "parent": "{{parent.jobId}}", "tick": "{{parent.scheduledAt}}",
    "status": "{{parent.status}}", "code": "{{parent.responseCode}}",
    "answer": "{{parent.responseBody}}", "line": "{{parent.status}}/{{parent.responseCode}}",
}  # fmt: skip


def create_job(api: FlaskClient, target: HttpTarget, path: str, **fields: Any) -> str:
    return str(created_job(api, schedule=NEVER, endpoint=target.url(path), retryDelay=100,
                           **fields)["jobId"])


def run_now(api: FlaskClient, job_id: str) -> str:
    answer = api.post(f"/api/jobs/{job_id}/run")
    assert answer.status_code == 202
    return str(answer.get_json()["data"]["scheduledAt"])


def settled(api: FlaskClient, job_id: str) -> bool:
    job = get_runtime(api.application).jobs.get(ObjectId(job_id))
    return job is not None and not job.inflight


def test_a_success_runs_each_on_success_job_once_with_the_parents_outcome(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond("/parent", 201, body='{"made": 7}')
    child = create_job(api, target, "/child", body=CHILD_BODY, enabled=False)
    second = create_job(api, target, "/second")
    on_failure = create_job(api, target, "/on-failure")
    parent = create_job(api, target, "/parent", onSuccess=[child, second],
                        onFailure=[on_failure])  # fmt: skip
    tick = run_now(api, parent)

    [sent] = target.wait_for_requests("/child", 1, timeout_s=10)
    target.wait_for_requests("/second", 1, timeout_s=10)
    wait_until(lambda: settled(api, child) and settled(api, parent), 10)
    time.sleep(0.6)  # a second run of either would have started by now (poll: 200 ms)

    assert len(target.requests_for("/child")) == len(target.requests_for("/second")) == 1
    assert target.requests_for("/on-failure") == []
    assert sent.json() == {"parent": parent, "tick": tick, "status": "success", "code": 201,
                           "answer": '{"made": 7}', "line": "success/201"}  # fmt: skip
    [record] = executions(api, child)
    assert record["triggeredBy"] == {"jobId": parent, "scheduledAt": tick}
    assert record["status"] == "success"
    assert sent.header("Idempotency-Key") != target.requests_for("/parent")[0].header(
        "Idempotency-Key")  # fmt: skip
    assert executions(api, parent)[0]["triggeredBy"] is None
    assert api.get(f"/api/jobs/{child}").get_json()["data"]["enabled"] is False


def test_a_dead_lettered_tick_runs_the_on_failure_jobs_and_a_good_replay_on_success(
    api: FlaskClient, target: HttpTarget
) -> None:
    target.respond_sequence("/parent", [503, 500, 200])
    on_success = create_job(api, target, "/on-success", body={"s": "{{parent.status}}"})
    on_failure = create_job(api, target, "/on-failure", body=CHILD_BODY)
    parent = create_job(api, target, "/parent", retryAttempts=1, onSuccess=[on_success],
                        onFailure=[on_failure])  # fmt: skip
    tick = run_now(api, parent)

    [failed] = target.wait_for_requests("/on-failure", 1, timeout_s=10)
    assert failed.json() == {"parent": parent, "tick": tick, "status": "failure", "code": 500,
                             "answer": "ok", "line": "failure/500"}  # fmt: skip
    assert target.requests_for("/on-success") == []
    letter = wait_until(lambda: api.get(f"/api/dead-letters?jobId={parent}").get_json()["data"],
                        10)[0]  # fmt: skip
    wait_until(lambda: settled(api, parent), 10)

    assert api.post(f"/api/dead-letters/{letter['deadLetterId']}/replay").status_code == 202
    [succeeded] = target.wait_for_requests("/on-success", 1, timeout_s=10)
    assert succeeded.json() == {"s": "success"}
    [record] = executions(api, on_success)
    assert record["triggeredBy"] == {"jobId": parent, "scheduledAt": tick}
    wait_until(lambda: settled(api, on_success) and settled(api, parent), 10)
    time.sleep(0.6)
    assert len(target.requests_for("/on-failure")) == len(target.requests_for("/on-success")) == 1


def test_deleting_a_job_removes_it_from_every_list(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    gone, kept = create_job(api, target, "/gone"), create_job(api, target, "/kept")
    first = create_job(api, target, "/first", onSuccess=[gone, kept], onFailure=[gone])
    second = create_job(api, target, "/second", onFailure=[kept, gone])
    unrelated = create_job(api, target, "/unrelated")
    before = wire_db.jobs.find_one({"_id": ObjectId(unrelated)})

    assert api.delete(f"/api/jobs/{gone}").status_code == 200
    lists = {job_id: (data["onSuccess"], data["onFailure"]) for job_id in (first, second)
             for data in [api.get(f"/api/jobs/{job_id}").get_json()["data"]]}  # fmt: skip
    assert lists == {first: ([kept], []), second: ([], [kept])}
    assert wire_db.jobs.find_one({"_id": ObjectId(unrelated)}) == before
    # And the parent still runs, triggering what is left.
    run_now(api, first)
    target.wait_for_requests("/kept", 1, timeout_s=10)
    assert target.requests_for("/gone") == []


def test_bad_lists_are_400s_naming_the_field_and_change_nothing(
    api: FlaskClient, target: HttpTarget, wire_db: Database
) -> None:
    c = create_job(api, target, "/c")
    b = create_job(api, target, "/b", onSuccess=[c])
    a = create_job(api, target, "/a", onFailure=[b])
    before = list(wire_db.jobs.find(sort=[("_id", 1)]))
    url = target.url("/new")

    cases = [
        ("post", "/api/jobs", {"onSuccess": [str(ObjectId()) for _ in range(11)]}, "onSuccess",
         "At most 10"),
        ("post", "/api/jobs", {"onFailure": ["not-an-id"]}, "onFailure", "Not a valid job id"),
        ("post", "/api/jobs", {"onFailure": [a, str(ObjectId())]}, "onFailure", "No such job"),
        ("put", f"/api/jobs/{a}", {"onSuccess": [a]}, "onSuccess", "cannot trigger itself"),
        ("put", f"/api/jobs/{c}", {"onFailure": [a], "name": "renamed"}, "onFailure",
         f"{c} -> {a} -> {b} -> {c}"),
        ("put", f"/api/jobs/{b}", {"onSuccess": [c, a]}, "onSuccess", f"{b} -> {a} -> {b}"),
    ]  # fmt: skip
    for method, path, fields, field, message in cases:
        body = {"schedule": NEVER, "endpoint": url, **fields} if method == "post" else fields
        answer = getattr(api, method)(path, json=body)
        assert answer.status_code == 400, (fields, answer.get_json())
        error = answer.get_json()["error"]
        assert (error["code"], list(error["details"])) == ("VALIDATION_ERROR", [field])
        assert message in f"{error['message']} {error['details'][field]}", error

    assert list(wire_db.jobs.find(sort=[("_id", 1)])) == before
