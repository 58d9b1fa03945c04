"""The dashboard through Flask's test client: pages, forms over the same service as the
API, CSRF, login with API keys, and the headers that keep the pages safe."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from flask import Flask
from flask.testing import FlaskClient
from pymongo.database import Database

from scheduler_service import create_app, open_runtime
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.errors import ConfigError
from scheduler_service.records import Entry, ExecutionRecord, Status
from scheduler_service.records.trigger import Trigger
from scheduler_service.stores.executions import ExecutionStore
from tests.support.dashboard import FORM, create_job, csrf_of, post_form

KEY = "dashboard-key-0123456789"
SECRET = "s" * 40
def test_root_redirects_to_the_dashboard_and_pages_render(client: FlaskClient) -> None:
    root = client.get("/")
    assert (root.status_code, root.headers["Location"]) == (302, "/ui/")
    assert root.get_data() == b"" and "Content-Type" not in root.headers  # no HTML page
    for path, title in (("/ui/", "Overview"), ("/ui/jobs", "Jobs"), ("/ui/jobs/new", "New job")):
        response = client.get(path)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert f"<title>{title} · Scheduler</title>" in page
        assert "<main" in page and "<nav" in page


def test_every_page_has_a_csp_without_inline_scripts(client: FlaskClient) -> None:
    response = client.get("/ui/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in response.get_data(as_text=True)


def test_form_creates_the_job_through_the_service(client: FlaskClient, mongo_db: Database) -> None:
    job_id = create_job(client)
    stored = mongo_db.jobs.find_one()
    assert str(stored["_id"]) == job_id
    assert stored["headers"]["Authorization"] == "Bearer hunter2-secret"
    assert stored["body"] == {"hello": "{{timestamp}}"} and stored["retryAttempts"] == 2
    page = client.get(f"/ui/jobs/{job_id}").get_data(as_text=True)
    assert "Bearer ***" in page and "hunter2" not in page  # masked as in the API
    assert page.count('<time datetime="') >= 10  # the next 10 fire times


def test_the_apis_messages_appear_next_to_their_fields(
    client: FlaskClient, mongo_db: Database
) -> None:
    bad = {**FORM, "schedule": "61 * * * * *", "retryAttempts": "eleven", "body": "{nope"}
    response = post_form(client, "/ui/jobs/new", bad, "/ui/jobs/new")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for field in ("schedule", "retryAttempts", "body"):
        assert f'<p class="error" id="{field}-error">' in page, field
    assert 'value="61 * * * * *"' in page  # what was typed is kept
    assert mongo_db.jobs.count_documents({}) == 0


@pytest.mark.parametrize("typed", ["+5", " 5", "5 ", "1_0", "\u0665", "-1", "5.0", "0x5"])
def test_a_number_field_takes_the_digits_0_to_9_only(
    client: FlaskClient, mongo_db: Database, typed: str
) -> None:
    """As the API's query integers: int() would take "+5", " 5", "1_0" and "\u0665" (5)."""
    response = post_form(client, "/ui/jobs/new", {**FORM, "retryAttempts": typed},
                         "/ui/jobs/new")  # fmt: skip
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<p class="error" id="retryAttempts-error">' in page
    assert "digits 0-9" in page
    assert mongo_db.jobs.count_documents({}) == 0


def test_a_number_fields_range_is_the_job_schemas(client: FlaskClient, mongo_db: Database) -> None:
    response = post_form(client, "/ui/jobs/new", {**FORM, "retryAttempts": "11"}, "/ui/jobs/new")
    assert response.status_code == 400
    assert '<p class="error" id="retryAttempts-error">' in response.get_data(as_text=True)
    assert create_job(client, retryAttempts="0010")  # leading zeros are digits too
    assert mongo_db.jobs.find_one()["retryAttempts"] == 10


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, mongo_db: Database) -> None:
    response = client.post("/ui/jobs/new", data=FORM)
    assert response.status_code == 400
    assert "The form was refused" in response.get_data(as_text=True)
    forged = client.post("/ui/jobs/new", data={**FORM, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert mongo_db.jobs.count_documents({}) == 0


def test_edit_keeps_a_masked_secret_and_changes_only_what_changed(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    edit = client.get(f"/ui/jobs/{job_id}/edit").get_data(as_text=True)
    assert "Authorization: Bearer ***" in edit and "hunter2" not in edit
    headers = "Authorization: Bearer ***\nX-Trace: off"
    changed = {**FORM, "headers": headers, "schedule": "0 0 * * * *"}
    response = post_form(client, f"/ui/jobs/{job_id}/edit", changed, f"/ui/jobs/{job_id}/edit")
    assert response.status_code == 302
    stored = mongo_db.jobs.find_one()
    assert stored["headers"] == {"Authorization": "Bearer hunter2-secret", "X-Trace": "off"}
    assert stored["schedule"] == "0 0 * * * *"


def test_pause_resume_run_now_and_delete(client: FlaskClient, mongo_db: Database) -> None:
    job_id = create_job(client)
    page = f"/ui/jobs/{job_id}"
    post_form(client, f"{page}/pause", {}, page)
    assert mongo_db.jobs.find_one()["enabled"] is False
    assert "Resume" in client.get(page).get_data(as_text=True)
    post_form(client, f"{page}/resume", {}, page)
    assert mongo_db.jobs.find_one()["enabled"] is True
    post_form(client, f"{page}/run", {}, page)
    assert [entry["manual"] for entry in mongo_db.jobs.find_one()["inflight"]] == [True]
    confirm = client.get(f"{page}/delete").get_data(as_text=True)
    assert "Delete POST example.com" in confirm  # names the job
    post_form(client, f"{page}/delete", {}, f"{page}/delete")
    assert mongo_db.jobs.count_documents({}) == 0
    assert client.get(page).status_code == 404


@pytest.fixture
def secured(mongo_db: Database, clock: FixedClock) -> Flask:
    config = Config(scheduler_enabled=False, api_keys=(KEY,), secret_key=SECRET)
    return create_app(open_runtime(config, database=mongo_db, clock=clock))


def test_with_api_keys_the_dashboard_asks_for_a_key_once(secured: Flask) -> None:
    client = secured.test_client()
    response = client.get("/ui/jobs")
    assert response.status_code == 302 and "/ui/login" in response.headers["Location"]
    wrong = post_form(client, "/ui/login", {"api_key": "wrong-key-0123456789"}, "/ui/login")
    assert wrong.status_code == 401
    response = post_form(client, "/ui/login", {"api_key": KEY, "next": "/ui/jobs"}, "/ui/login")
    assert response.headers["Location"] == "/ui/jobs"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and KEY not in cookie
    assert client.get("/ui/jobs").status_code == 200
    post_form(client, "/ui/logout", {}, "/ui/jobs")
    assert client.get("/ui/jobs").status_code == 302


def test_the_session_cookie_is_secure_over_https(secured: Flask) -> None:
    client = secured.test_client()
    page = client.get("/ui/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post("/ui/login", base_url="https://localhost",
                           data={"api_key": KEY, "csrf_token": token.group(1)})  # fmt: skip
    assert response.status_code == 302
    assert "; Secure" in response.headers["Set-Cookie"]


def test_login_never_redirects_off_the_dashboard(secured: Flask) -> None:
    client = secured.test_client()
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/jobs"):
        response = post_form(client, "/ui/login", {"api_key": KEY, "next": target}, "/ui/login")
        assert response.headers["Location"] == "/ui/", target


def test_secret_key_is_required_with_api_keys() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({"API_KEYS": KEY})
    assert str(info.value).startswith("SECRET_KEY:")
    assert "\n" not in str(info.value)
    assert Config.from_env({"API_KEYS": KEY, "SECRET_KEY": SECRET}).secret_key == SECRET


def test_run_now_past_the_manual_run_limit_is_a_message(
    client: FlaskClient, mongo_db: Database
) -> None:
    job_id = create_job(client)
    page = f"/ui/jobs/{job_id}"
    token = csrf_of(client, page)
    for _ in range(10):
        assert client.post(f"{page}/run", data={"csrf_token": token}).status_code == 302
    refused = client.post(f"{page}/run", data={"csrf_token": token})
    assert refused.status_code == 302  # back to the job page, which says why
    assert "flash-error" in client.get(page).get_data(as_text=True)
    assert len(mongo_db.jobs.find_one()["inflight"]) == 10


@pytest.mark.parametrize(
    "page", ["99999999999999999999", "1000000001", "0", "-1", "+5", "%205", "%D9%A5", "x"]
)
def test_a_bad_page_number_is_a_400_page_not_a_500(client: FlaskClient, page: str) -> None:
    """The API's bounds and digits (``schemas/query.py``): a page past MongoDB's 64-bit skip
    was an OverflowError (500)."""
    response = client.get(f"/ui/jobs?page={page}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_the_dead_letters_page_bounds_its_page_number(client: FlaskClient) -> None:
    response = client.get("/ui/dead-letters?page=99999999999999999999")
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_jobs_filtered_by_the_apis_query_rules(client: FlaskClient) -> None:
    base = {"schedule": "0 0 * * * *", "endpoint": "https://example.com/hook"}
    client.post("/api/jobs", json={**base, "name": "alpha report", "tags": ["reports"]})
    client.post("/api/jobs", json={**base, "name": "beta cleanup", "enabled": False})
    only_tagged = client.get("/ui/jobs?tag=reports").get_data(as_text=True)
    assert "alpha report" in only_tagged and "beta cleanup" not in only_tagged
    paused = client.get("/ui/jobs?enabled=false").get_data(as_text=True)
    assert "beta cleanup" in paused and "alpha report" not in paused
    found = client.get("/ui/jobs?q=CLEAN").get_data(as_text=True)
    assert "beta cleanup" in found and "alpha report" not in found
    bad = client.get("/ui/jobs?tag=no%20spaces")
    assert bad.status_code == 400
    assert 'id="filter-tag-error"' in bad.get_data(as_text=True)


def test_the_form_sets_chained_jobs_and_shows_a_cycle_next_to_its_field(
    client: FlaskClient, mongo_db: Database
) -> None:
    child = create_job(client, name="child")
    parent = create_job(client, name="parent", onSuccess=f" {child} ,", onFailure=child)
    stored = mongo_db.jobs.find_one({"name": "parent"})
    assert (stored["onSuccess"], stored["onFailure"]) == ([ObjectId(child)], [ObjectId(child)])
    page = f"/ui/jobs/{child}/edit"
    response = post_form(client, page, {**FORM, "name": "child", "onFailure": parent}, page)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert '<p class="error" id="onFailure-error">' in text
    assert f"{child} -&gt; {parent} -&gt; {child}" in text
    assert "onFailure" not in mongo_db.jobs.find_one({"name": "child"})


def test_the_job_page_links_chained_jobs_and_the_parent_of_a_triggered_run(
    client: FlaskClient, mongo_db: Database
) -> None:
    child = create_job(client, name="child")
    parent = create_job(client, name="parent", onFailure=child)
    page = client.get(f"/ui/jobs/{parent}").get_data(as_text=True)
    assert f'<dt>On failure</dt><dd><ul class="tags"><li><a href="/ui/jobs/{child}">' in page
    tick = FixedClock(datetime(2024, 1, 1, tzinfo=UTC)).now()
    trigger = Trigger(ObjectId(parent), tick, Status.FAILURE, 500, None, "key")
    entry = replace(Entry.triggered(trigger, tick), started_at=tick)
    ExecutionStore(mongo_db).record_many([ExecutionRecord.ended(
        ObjectId(child), entry, tick, success=True, completed_at=tick, duration=1,
        response_code=200, response_body="ok", error_message=None)])  # fmt: skip
    page = client.get(f"/ui/jobs/{child}").get_data(as_text=True)
    assert f'<dt>Triggered by</dt><dd><a href="/ui/jobs/{parent}">' in page
