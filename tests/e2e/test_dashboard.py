"""The dashboard as a person uses it, in a real headless Chromium against the deployed
service (gunicorn, two workers) and a real target on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import (
    API_KEY,
    button,
    field,
    follow,
    live_text,
    rows,
    settled,
    shoot,
)
from tests.support.http_target import HttpTarget
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_create_watch_pause_run_edit_delete(
    browser: WebDriver, open_service: str, target: HttpTarget, screenshots: Path
) -> None:
    browser.get(open_service + "/")
    assert browser.current_url == open_service + "/ui/"
    assert browser.title == "Overview · Scheduler"
    shoot(browser, screenshots, "overview-empty")

    follow(browser, button(browser, "Jobs"))
    assert "No jobs yet" in browser.find_element(By.TAG_NAME, "main").text
    follow(browser, button(browser, "New job"))
    assert browser.title == "New job · Scheduler"
    field(browser, "Schedule").send_keys("*/2 * * * * *")
    preview = browser.find_element(By.ID, "schedule-preview")
    wait_until(lambda: len(preview.find_elements(By.CSS_SELECTOR, "li time")) == 5, 10,
               message="the schedule preview's 5 fire times")  # fmt: skip
    field(browser, "Endpoint").send_keys(target.url("/dashboard"))
    Select(field(browser, "Method")).select_by_visible_text("POST")
    field(browser, "Headers").send_keys("Authorization: Bearer e2e-secret-token")
    field(browser, "Body").send_keys('{"at": "{{timestamp}}"}')
    field(browser, "Retry attempts").clear()
    field(browser, "Retry attempts").send_keys("0")
    field(browser, "Priority").send_keys("8")
    shoot(browser, screenshots, "new-job")
    follow(browser, button(browser, "Create job"))

    # The job page: its first executions appear without a reload.
    wait_until(lambda: "/ui/jobs/" in browser.current_url and "/new" not in browser.current_url)
    job_url = browser.current_url
    job_id = job_url.rsplit("/", 1)[1]
    assert "Bearer ***" in browser.page_source and "e2e-secret-token" not in browser.page_source
    assert "Priority\n8" in browser.find_element(By.TAG_NAME, "main").text
    stamp = browser.find_element(By.CSS_SELECTOR, "#live-job time[data-local]")
    utc, shown = stamp.get_attribute("title"), stamp.text  # (read before the first refresh)
    assert utc.endswith(" UTC") and shown and shown != utc  # the browser's zone; UTC on hover
    browser.execute_script("window.notReloaded = true")
    wait_until(lambda: len(target.requests_for("/dashboard")) >= 2, 15, message="two ticks")
    wait_until(settled(lambda: len([r for r in rows(browser) if "success" in r.text]) >= 2),
               15, message="two executions shown on the job page")  # fmt: skip
    assert browser.execute_script("return window.notReloaded") is True
    browser.find_element(By.CSS_SELECTOR, "#live-executions tr.execution summary").click()
    # The row stays open across the page's refreshes.
    wait_until(settled(lambda: "Response body" in rows(browser)[0].text))
    shoot(browser, screenshots, "job")

    follow(browser, button(browser, "Pause"))
    assert "paused" in live_text(browser, "live-job")
    api_job = requests.get(f"{open_service}/api/jobs/{job_id}", timeout=10).json()["data"]
    assert api_job["enabled"] is False and api_job["priority"] == 8

    before = len(target.requests_for("/dashboard"))
    follow(browser, button(browser, "Run now"))
    assert "Run queued" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    wait_until(lambda: len(target.requests_for("/dashboard")) > before, 15, message="the run")
    browser.execute_script("window.notReloaded = true")
    delivered = len(target.requests_for("/dashboard"))  # paused: only the manual run added
    wait_until(lambda: len(rows(browser)) >= delivered, 15,
               message="every delivered request, the manual run too, on the page")  # fmt: skip
    assert browser.execute_script("return window.notReloaded") is True

    follow(browser, button(browser, "Edit"))
    schedule = field(browser, "Schedule")
    schedule.clear()
    schedule.send_keys("61 * * * * *")
    follow(browser, button(browser, "Save"))
    message = browser.find_element(By.ID, "schedule-error")
    assert message.is_displayed() and "61" in message.text
    container = message.find_element(By.XPATH, "..")
    assert container.find_element(By.TAG_NAME, "label").text == "Schedule"
    assert field(browser, "Schedule").get_attribute("aria-invalid") == "true"
    shoot(browser, screenshots, "edit-job-error")

    follow(browser, button(browser, "Jobs"))
    assert job_id in browser.page_source
    shoot(browser, screenshots, "jobs")
    follow(browser, button(browser, "Overview"))
    shoot(browser, screenshots, "overview")

    browser.get(job_url)
    follow(browser, button(browser, "Delete"))
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading.startswith("Delete") and "127.0.0.1" in heading  # names the job
    shoot(browser, screenshots, "delete-job")
    [confirm] = [el for el in browser.find_elements(By.CSS_SELECTOR, "button.danger")]
    follow(browser, confirm)
    assert browser.current_url.endswith("/ui/jobs")
    assert job_id not in browser.page_source
    assert requests.get(f"{open_service}/api/jobs/{job_id}", timeout=10).status_code == 404


def test_a_form_posted_without_its_csrf_token_is_refused(open_service: str) -> None:
    session = requests.Session()
    page = session.get(f"{open_service}/ui/jobs/new", timeout=10)
    assert 'name="csrf_token"' in page.text
    form = {"schedule": "* * * * * *", "endpoint": "http://127.0.0.1:9/x", "method": "GET"}
    refused = session.post(f"{open_service}/ui/jobs/new", data=form, timeout=10,
                           allow_redirects=False)  # fmt: skip
    assert refused.status_code == 400 and "The form was refused" in refused.text
    jobs = requests.get(f"{open_service}/api/jobs", timeout=10).json()
    assert all(job["endpoint"] != form["endpoint"] for job in jobs["data"])


def test_log_in_and_out_with_api_keys(
    browser: WebDriver, keyed_service: str, screenshots: Path
) -> None:
    browser.get(keyed_service + "/ui/jobs")
    assert "/ui/login" in browser.current_url
    assert browser.title == "Log in · Scheduler"
    shoot(browser, screenshots, "login")
    field(browser, "API key").send_keys("not-the-key-0123456789")
    follow(browser, button(browser, "Log in"))
    assert "not one of this service's API keys" in browser.find_element(By.ID, "api_key-error").text
    field(browser, "API key").send_keys(API_KEY)
    follow(browser, button(browser, "Log in"))
    assert browser.current_url == keyed_service + "/ui/jobs"
    [cookie] = browser.get_cookies()
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert API_KEY not in cookie["value"]
    follow(browser, button(browser, "Log out"))
    assert "/ui/login" in browser.current_url
    browser.get(keyed_service + "/ui/")
    assert "/ui/login" in browser.current_url




def test_jobs_filtered_by_tag_state_and_text(
    browser: WebDriver, open_service: str, screenshots: Path
) -> None:
    base = {"schedule": "0 0 0 1 1 *", "endpoint": "http://127.0.0.1:9/hook", "method": "GET"}
    for name, tags, enabled in (("filter nightly report", ["filters", "reports"], True),
                                ("filter weekly cleanup", ["filters"], False)):  # fmt: skip
        job = {**base, "name": name, "tags": tags, "enabled": enabled,
               "timezone": "Europe/Berlin"}  # fmt: skip
        answer = requests.post(f"{open_service}/api/jobs", json=job, timeout=10)
        assert answer.status_code == 201, answer.text

    browser.get(open_service + "/ui/jobs")
    field(browser, "Tags").send_keys("filters")
    follow(browser, button(browser, "Filter"))
    table = browser.find_element(By.ID, "live-jobs").text
    assert "filter nightly report" in table and "filter weekly cleanup" in table
    assert "Europe/Berlin" in table
    Select(field(browser, "State")).select_by_visible_text("paused")
    follow(browser, button(browser, "Filter"))
    table = browser.find_element(By.ID, "live-jobs").text
    assert "filter weekly cleanup" in table and "filter nightly report" not in table
    shoot(browser, screenshots, "jobs-filtered")
    Select(field(browser, "State")).select_by_visible_text("any")
    search = field(browser, "Search")
    search.clear()
    search.send_keys("no such job")
    follow(browser, button(browser, "Filter"))
    assert "No jobs match" in browser.find_element(By.ID, "live-jobs").text
