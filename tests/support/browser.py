"""Headless Chromium for browser tests: Debian's chromium through Debian's chromedriver.

``chromium()`` starts a fresh browser (empty profile, no background networking: this
machine's network is closed, and Chromium would otherwise try to reach Google at
every start). Use the ``browser`` fixture of tests/conftest.py: it saves a screenshot
and the page source of a failing test under ``$BROWSER_ARTIFACTS`` (default
``artifacts/browser/``), which CI keeps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.live import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "artifacts" / "browser"))


def missing() -> str | None:
    """Why a browser cannot start here, or ``None``."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is missing: run .ci/ensure-chromium.sh"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with an empty profile of its own; quit afterwards."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # Every console message (CSP violations included) and the network events, for
    # driver.get_log("browser") and driver.get_log("performance").
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    # An explicit driver path: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save_artifacts(driver: webdriver.Chrome, name: str) -> Path:
    """A screenshot and the page source of ``driver``'s page, named after a test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:150]
    driver.save_screenshot(str(ARTIFACTS / f"{safe}.png"))
    (ARTIFACTS / f"{safe}.html").write_text(driver.page_source, encoding="utf-8")
    return ARTIFACTS / f"{safe}.png"
