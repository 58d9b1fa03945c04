"""onSuccess/onFailure validation: the cycle search on its own, and the API's 400s (which
change nothing), on create and on update; deleting a job removes it from every list."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service.services.chain_rules import find_cycle
from scheduler_service.stores.chains import Links

A, B, C, D, E = (ObjectId(f"{n:024x}") for n in range(1, 6))


def reader(graph: dict[ObjectId, Links], reads: list[list[ObjectId]] | None = None) -> Any:
    def read(ids: list[ObjectId]) -> dict[ObjectId, Links]:
        if reads is not None:
            reads.append(list(ids))
        return {node: graph[node] for node in ids if node in graph}

    return read


def test_find_cycle_follows_both_lists_across_jobs_and_names_the_path() -> None:
    graph = {B: ((C,), ()), C: ((), (D,)), D: ((), (A,)), E: ((), ())}
    reads: list[list[ObjectId]] = []
    assert find_cycle(A, {"onFailure": (E, B)}, reader(graph, reads)) == (
        "onFailure", [A, B, C, D, A])  # fmt: skip
    assert reads == [[E, B], [C], [D]]  # one read per level


def test_find_cycle_finds_none_in_a_diamond_and_stops_at_each_job_once() -> None:
    graph = {B: ((D,), ()), C: ((), (D,)), D: ((E,), (E,)), E: ((), ())}
    reads: list[list[ObjectId]] = []
    assert find_cycle(A, {"onSuccess": (B,), "onFailure": (C,)}, reader(graph, reads)) is None
    assert reads == [[B, C], [D], [E]]


def test_find_cycle_reports_a_job_naming_itself() -> None:
    assert find_cycle(A, {"onSuccess": (B, A)}, reader({})) == ("onSuccess", [A, A])


def test_find_cycle_ignores_the_stored_lists_of_the_job_being_changed() -> None:
    graph = {A: ((B,), ()), B: ((), ())}  # A's stored lists are replaced by the new ones
    assert find_cycle(A, {"onSuccess": (B,)}, reader(graph)) is None


# -- the API (mongomock) ------------------------------------------------------------------

NEVER = "0 0 0 1 1 *"


def create(client: FlaskClient, **fields: Any) -> str:
    body = {"schedule": NEVER, "endpoint": "https://example.com/hook", **fields}
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["data"]["jobId"])


def refused(answer: Any, field: str) -> str:
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [field]
    return f"{error['message']} {error['details'][field]}"


def test_the_lists_are_shown_and_default_to_empty(client: FlaskClient) -> None:
    child = create(client)
    parent = create(client, onSuccess=[child], onFailure=[child.upper()])
    data = client.get(f"/api/jobs/{parent}").get_json()["data"]
    assert (data["onSuccess"], data["onFailure"]) == ([child], [child])
    assert client.get(f"/api/jobs/{child}").get_json()["data"]["onSuccess"] == []


@pytest.mark.parametrize("value, message", [
    ([f"{n:024x}" for n in range(11)], "At most 10"),
    (["nope"], "Not a valid job id"),
    ("6b0bf5cc400964adc923e083", "Not a valid list"),
    ([12], "Not a valid string"),
    (None, "Field may not be null"),
])  # fmt: skip
def test_bad_lists_are_refused_on_create(client: FlaskClient, database: Database, value: Any,
                                         message: str) -> None:  # fmt: skip
    answer = client.post("/api/jobs", json={"schedule": NEVER, "onSuccess": value,
                                            "endpoint": "https://example.com/hook"})
    assert message in refused(answer, "onSuccess")
    assert database.jobs.count_documents({}) == 0


def test_unknown_ids_are_refused_and_repeated_ones_kept_once(
    client: FlaskClient, database: Database
) -> None:
    child = create(client)
    unknown = str(ObjectId())
    message = refused(client.post("/api/jobs", json={
        "schedule": NEVER, "endpoint": "https://example.com/hook",
        "onFailure": [child, unknown]}), "onFailure")  # fmt: skip
    assert f"No such job: {unknown}" in message
    assert database.jobs.count_documents({}) == 1
    parent = create(client, onSuccess=[child, child.upper()])
    assert client.get(f"/api/jobs/{parent}").get_json()["data"]["onSuccess"] == [child]


def test_self_and_cycles_are_refused_on_update_and_change_nothing(
    client: FlaskClient, database: Database
) -> None:
    c = create(client)
    b = create(client, onFailure=[c])
    a = create(client, onSuccess=[b])
    before = list(database.jobs.find(sort=[("_id", 1)]))

    assert f"cannot trigger itself ({a})" in refused(
        client.put(f"/api/jobs/{a}", json={"onFailure": [a], "name": "x"}), "onFailure")
    message = refused(client.put(f"/api/jobs/{c}", json={"onSuccess": [a], "name": "x"}),
                      "onSuccess")  # fmt: skip
    assert f"{c} -> {a} -> {b} -> {c}" in message
    assert "onSuccess would make a cycle" in message
    message = refused(client.put(f"/api/jobs/{b}", json={"onSuccess": [a]}), "onSuccess")
    assert f"{b} -> {a} -> {b}" in message
    assert list(database.jobs.find(sort=[("_id", 1)])) == before

    # Not a cycle: a second path to the same job, and replacing a list that made one.
    assert client.put(f"/api/jobs/{a}", json={"onFailure": [c]}).status_code == 200
    assert client.put(f"/api/jobs/{b}", json={"onFailure": []}).status_code == 200
    assert client.put(f"/api/jobs/{c}", json={"onSuccess": [b]}).status_code == 200


def test_deleting_a_job_removes_it_from_every_list(client: FlaskClient,
                                                   database: Database) -> None:  # fmt: skip
    gone, kept = create(client), create(client)
    first = create(client, onSuccess=[gone, kept], onFailure=[gone])
    second = create(client, onFailure=[kept, gone])
    assert client.delete(f"/api/jobs/{gone}").status_code in (200, 204)

    def lists(job_id: str) -> tuple[list[str], list[str]]:
        data = client.get(f"/api/jobs/{job_id}").get_json()["data"]
        return data["onSuccess"], data["onFailure"]

    assert lists(first) == ([kept], [])
    assert lists(second) == ([], [kept])
    assert database.jobs.count_documents({"onSuccess": ObjectId(gone)}) == 0


def test_a_body_that_a_parents_response_could_grow_past_a_document_is_refused(
    client: FlaskClient, database: Database
) -> None:
    # 700 x {{parent.responseBody}}: 16 KB as written, up to 700 x 4,096 x 3 bytes (8.6 MB)
    # rendered, which its dead letter could not hold with the rest; before, a run of it
    # failed its dead letter's write (DocumentTooLarge) and was sent again every lease.
    body = {"list": ["{{parent.responseBody}}"] * 700}
    answer = client.post("/api/jobs", json={"schedule": NEVER, "body": body,
                                            "endpoint": "https://example.com/hook"})  # fmt: skip
    assert "over the limit of 8388608" in refused(answer, "body")
    assert database.jobs.count_documents({}) == 0
    job = create(client, body={"list": ["{{parent.responseBody}}"] * 600, "n": "{{timestamp}}"})
    assert "parent.responseBody" in refused(client.put(f"/api/jobs/{job}", json={"body": body}),
                                            "body")  # fmt: skip
    assert len(client.get(f"/api/jobs/{job}").get_json()["data"]["body"]["list"]) == 600
