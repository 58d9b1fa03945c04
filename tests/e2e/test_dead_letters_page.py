"""Dead letters in the dashboard as a person uses them, in headless Chromium against the
deployed service: a failing job's dead letters listed, one replayed from its page, the
rest in bulk, one deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.conftest import button, follow, shoot
from tests.support.http_target import HttpTarget
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

def test_dead_letters_list_detail_replay_and_delete(
    browser: WebDriver, open_service: str, target: HttpTarget, screenshots: Path
) -> None:
    target.respond("/failing", 500)
    job = {"schedule": "*/2 * * * * *", "endpoint": target.url("/failing"),
           "method": "POST", "retryAttempts": 0}  # fmt: skip
    created = requests.post(f"{open_service}/api/jobs", json=job, timeout=10).json()["data"]
    job_id = created["jobId"]

    def letters() -> list[dict[str, Any]]:
        answer = requests.get(f"{open_service}/api/dead-letters", params={"jobId": job_id},
                              timeout=10)  # fmt: skip
        return list(answer.json()["data"])

    wait_until(lambda: len(letters()) >= 2, 20, message="two dead letters")
    requests.put(f"{open_service}/api/jobs/{job_id}", json={"enabled": False}, timeout=10)
    target.respond("/failing", 200)

    browser.get(open_service + "/ui/")
    assert "Dead letters" in browser.find_element(By.ID, "live-overview").text
    follow(browser, button(browser, "Dead letters"))
    assert browser.title == "Dead letters · Scheduler"
    assert "HTTP 500" in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, screenshots, "dead-letters")

    first, *others = letters()
    link = f"a[href$='/dead-letters/{first['deadLetterId']}']"
    follow(browser, browser.find_element(By.CSS_SELECTOR, link))
    shoot(browser, screenshots, "dead-letter")
    before = len(target.requests_for("/failing"))
    follow(browser, button(browser, "Replay"))
    assert "Replay queued" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    wait_until(lambda: len(target.requests_for("/failing")) > before, 15, message="the replay")
    assert target.requests_for("/failing")[-1].header("Idempotency-Key") == (
        first["idempotencyKey"])

    def shown_state() -> bool:
        browser.refresh()
        return "replayed" in browser.find_element(By.TAG_NAME, "main").text

    wait_until(shown_state, 15, interval_s=0.5, message="the page showing it replayed")
    follow(browser, button(browser, "Replay"))  # replayed already: the service's 409
    assert "already replayed" in browser.find_element(By.CSS_SELECTOR, ".flash").text

    browser.get(f"{open_service}/ui/dead-letters?state=dead&jobId={job_id}")
    for letter in others:
        browser.find_element(By.ID, f"pick-{letter['deadLetterId']}").click()
    follow(browser, button(browser, "Replay selected"))
    flash = browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert f"Replays queued: {len(others)}" in flash

    browser.get(f"{open_service}/ui/dead-letters/{first['deadLetterId']}")
    follow(browser, button(browser, "Delete"))
    follow(browser, button(browser, "Delete dead letter"))
    assert browser.current_url.endswith("/ui/dead-letters")
    answer = requests.get(f"{open_service}/api/dead-letters/{first['deadLetterId']}", timeout=10)
    assert answer.status_code == 404
