"""A real browser: a page on the Better Auth origin signs up, gets its JWT and calls
this API on another origin, through CORS preflights, as a Next.js front end does.

Headless Chromium loads the page served by the real Better Auth server
(interop/better-auth/server.mjs, ``GET /``); our API runs under gunicorn on another
port, hence another origin.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import betterauth_node
from tests.support.betterauth_node import api_env, api_server, better_auth_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _node_installed() -> None:
    reason = betterauth_node.missing()
    if reason is not None:
        pytest.fail(reason)


def _run_page(browser: Any, auth_url: str, api_url: str) -> dict[str, Any]:
    browser.get(f"{auth_url}/?api={api_url}")
    WebDriverWait(browser, 45).until(
        lambda driver: driver.execute_script("return window.RESULT")
    )
    result: dict[str, Any] = browser.execute_script("return window.RESULT")
    return result


def test_a_page_on_another_origin_signs_in_with_better_auth_and_uses_the_api(
    browser, tmp_path
):
    with (
        better_auth_server() as auth,
        api_server(tmp_path, **api_env(auth), CORS_ALLOWED_ORIGINS=auth.url) as api,
    ):
        assert auth.url.rsplit(":", 1)[1] != api.rsplit(":", 1)[1]  # two origins

        result = _run_page(browser, auth.url, api)

        assert "error" not in result, result
        user = result["user"]
        created, toggled = result["created"], result["toggled"]
        assert (created["user_id"], created["title"]) == (user, "from the browser")
        assert (created["completed"], toggled["completed"]) == (False, True)
        assert result["listed"] == [toggled]
        assert result["after"] == []
        assert result["etag"]  # exposed to the page by Access-Control-Expose-Headers
        assert result["other"] == 403  # another user's path


def test_without_the_origin_allowed_the_browser_blocks_the_calls(browser, tmp_path):
    with (
        better_auth_server() as auth,
        api_server(tmp_path, **api_env(auth)) as api,
    ):
        result = _run_page(browser, auth.url, api)

        assert "Failed to fetch" in result.get("error", ""), result
