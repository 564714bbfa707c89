"""The browser harness itself: Chromium starts headless and renders a local page."""

from __future__ import annotations

import pytest

from tests.support.live import ROOT

pytestmark = pytest.mark.browser


def test_chromium_renders_a_local_file(browser, tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<title>t</title><p id=x>rendered by chromium</p>")
    browser.get(page.as_uri())
    assert browser.find_element("id", "x").text == "rendered by chromium"
    assert ROOT.joinpath("manage.py").exists()
