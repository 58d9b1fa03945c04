"""Dead letters in the dashboard: list, filter, detail, replay (one and bulk), delete."""

from __future__ import annotations

from flask.testing import FlaskClient
from pymongo.database import Database

from tests.support.dashboard import create_job, post_form
from tests.support.dead_letters import dead


def states(mongo_db: Database) -> dict[str, str]:
    return {str(doc["_id"]): doc["state"] for doc in mongo_db["dead_letters"].find()}


def test_list_filter_and_detail(client: FlaskClient, mongo_db: Database) -> None:
    job_a, job_b = create_job(client), create_job(client)
    first, other = dead(mongo_db, job_a), dead(mongo_db, job_b, 1)
    page = client.get("/ui/dead-letters").get_data(as_text=True)
    assert first in page and other in page
    only_a = client.get(f"/ui/dead-letters?jobId={job_a}").get_data(as_text=True)
    assert first in only_a and other not in only_a
    assert "Replay all of this job" in only_a
    bad = client.get("/ui/dead-letters?jobId=xyz")
    assert bad.status_code == 400 and 'id="jobId-error"' in bad.get_data(as_text=True)
    detail = client.get(f"/ui/dead-letters/{first}").get_data(as_text=True)
    assert "Replay" in detail and job_a in detail
    assert client.get("/ui/dead-letters/0123456789abcdef01234567").status_code == 404
    overview = client.get("/ui/").get_data(as_text=True)
    assert "Dead letters" in overview


def test_replay_one_and_many_and_delete(client: FlaskClient, mongo_db: Database) -> None:
    job = create_job(client)
    one, two, three = dead(mongo_db, job), dead(mongo_db, job, 1), dead(mongo_db, job, 2)
    detail = f"/ui/dead-letters/{one}"
    post_form(client, f"{detail}/replay", {}, detail)
    assert states(mongo_db)[one] == "replaying"
    again = post_form(client, f"{detail}/replay", {}, detail)
    assert again.status_code == 302  # a 409 from the service becomes a message
    assert "already being replayed" in client.get(detail).get_data(as_text=True)
    client.post("/ui/dead-letters/replay", data={"ids": [two, three]})  # no CSRF token
    assert states(mongo_db)[two] == "dead"
    listing = "/ui/dead-letters"
    post_form(client, f"{listing}/replay", {"ids": [two, three]}, listing)  # type: ignore[dict-item]
    assert states(mongo_db)[two] == states(mongo_db)[three] == "replaying"
    confirm = client.get(f"/ui/dead-letters/{one}/delete")
    assert "Delete this dead letter?" in confirm.get_data(as_text=True)
    # A replay in flight keeps its dead letter (the service's 409 becomes a message).
    refused = post_form(client, f"{detail}/delete", {}, f"{detail}/delete")
    assert refused.status_code == 302 and one in states(mongo_db)
    assert "is being replayed" in client.get(detail).get_data(as_text=True)
    four = dead(mongo_db, job, 3)
    post_form(client, f"/ui/dead-letters/{four}/delete", {}, f"/ui/dead-letters/{four}/delete")
    assert four not in states(mongo_db)
