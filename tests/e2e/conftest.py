"""End-to-end fixtures: the service as deployed (gunicorn, two workers, its own database on
the session's wire server) and a real headless Chromium driven through Selenium.

Debian's ``chromium`` and ``chromium-driver`` (``make e2e`` installs them if missing).
Screenshots go to ``tests/e2e/screenshots/`` (ignored by git) for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.databases import fresh_database_uri
from tests.support.http_target import HttpTarget
from tests.support.processes import ProcessGroup, service_env
from tests.support.service_process import ServiceProcess
from tests.support.waiting import wait_until

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=en-US",
)  # fmt: skip
WIDTHS = (1280, 390)
BROWSER_ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def e2e_db_uri(wire_server: str) -> Iterator[str]:
    """A MONGODB_URI naming a fresh database on the wire server, dropped afterwards."""
    with fresh_database_uri(wire_server, "e2e") as uri:
        yield uri


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (its own profile) for one test."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument(f"--window-size={WIDTHS[0]},900")
    # A zone other than the machine's UTC, so pages show that times are the browser's.
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_ZONE})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _viewport(driver: WebDriver, width: int, height: int) -> None:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def shoot(driver: WebDriver, directory: Path, name: str) -> None:
    """The whole page at each width, as ``NAME-WIDTH.png``; at every width the page must
    not scroll sideways (nothing wider than the screen)."""
    try:
        for width in WIDTHS:
            _viewport(driver, width, 900)
            driver.execute_script("window.scrollTo(0, 0)")
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            _viewport(driver, width, min(max(height, 600), 8000))
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
            (directory / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))
            assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# -- the service under test, and how a person finds things on a page -------------------

API_KEY = "e2e-dashboard-key-0123456789"
SECRET_KEY = "e2e-secret-" + "x" * 32


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTarget]:
    with HttpTarget() as server:
        yield server


def start_service(tmp: Path, uri: str, **settings: str) -> Iterator[ServiceProcess]:
    with ProcessGroup(tmp) as group:
        service = group.gunicorn("web", service_env(uri, **settings), workers=2)
        group.wait_ready(timeout_s=60)
        yield service


@pytest.fixture(scope="module")
def open_service(tmp_path_factory: pytest.TempPathFactory, e2e_db_uri: str) -> Iterator[str]:
    """No API_KEYS (and no SECRET_KEY: gunicorn's master makes one for both workers)."""
    for service in start_service(tmp_path_factory.mktemp("open"), e2e_db_uri,
                                 SCHEDULER_POLL_INTERVAL="200"):  # fmt: skip
        yield service.base_url


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory, e2e_db_uri: str) -> Iterator[str]:
    for service in start_service(tmp_path_factory.mktemp("keyed"), e2e_db_uri,
                                 API_KEYS=API_KEY, SECRET_KEY=SECRET_KEY,
                                 SCHEDULER_ENABLED="false"):  # fmt: skip
        yield service.base_url


def field(driver: WebDriver, label: str) -> WebElement:
    """The control labelled ``label`` (as a person finds it: by its label's text)."""
    labels = [el for el in driver.find_elements(By.TAG_NAME, "label") if el.text == label]
    assert labels, f"no control labelled {label!r}"
    return driver.find_element(By.ID, labels[0].get_attribute("for"))


def button(driver: WebDriver, text: str) -> WebElement:
    found = [el for el in driver.find_elements(By.CSS_SELECTOR, "button, a")
             if el.text.strip() == text and el.is_displayed()]  # fmt: skip
    assert found, f"no button or link {text!r}"
    return found[0]


def _left(page: WebElement) -> bool:
    """Whether the browser has left the page whose root is ``page``. Chromium 156 sometimes
    answers a look at the old root during the navigation with "Node with given id does not
    belong to the document" (a WebDriverException) rather than a stale reference: both
    mean it is gone (``staleness_of`` let the first one through and failed the test)."""
    try:
        page.is_enabled()
    except (StaleElementReferenceException, WebDriverException):
        return True
    return False


def follow(driver: WebDriver, element: WebElement) -> None:
    """Click a link or submit button and wait for the next page to have loaded."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 15).until(lambda _: _left(page))
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#live-executions tr.execution")


def settled(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check`` for wait_until, retried when a live refresh replaced what it was reading."""

    def attempt() -> Any:
        try:
            return check()
        except StaleElementReferenceException:
            return False

    return attempt


def live_text(driver: WebDriver, element_id: str) -> str:
    return str(wait_until(settled(lambda: driver.find_element(By.ID, element_id).text)))
