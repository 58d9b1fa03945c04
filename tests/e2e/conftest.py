"""End-to-end fixtures: the service as deployed (gunicorn, two workers, its own database on
the session's wire server) and a real headless Chromium driven through Selenium.

Debian's ``chromium`` and ``chromium-driver`` (``make e2e`` installs them if missing).
Screenshots go to ``tests/e2e/screenshots/`` (ignored by git) for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

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
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    base, _, query = wire_server.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    client: MongoClient = MongoClient(wire_server, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()


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
