"""The docs pages in a real browser, as production serves them.

One gunicorn with production settings (what `make serve` runs: collectstatic, the
manifest storage, whitenoise, the Content-Security-Policy) on a migrated SQLite file
of its own. The server's database does not matter to what is tested here (the pages,
the policy, a round trip from Swagger UI), so these tests need no PostgreSQL of their
own and run alike in every CI run; the admin test uses the suite's database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.live import gunicorn, manage, request, server_env

pytestmark = pytest.mark.browser

ACCOUNT = {"email": "docs@example.com", "password": "Quite-long-pass-42"}
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@dataclass
class Server:
    base: str
    token: str


@pytest.fixture(scope="module")
def production_server(tmp_path_factory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("docs-server")
    env = server_env(
        DATABASE_URL=f"sqlite:///{directory / 'docs.sqlite3'}",
        DJANGO_STATIC_ROOT=str(directory / "static"),
    )
    manage(env, "collectstatic", "--no-input")
    manage(env, "migrate", "--no-input")
    with gunicorn(env) as base:
        code, _, body = request("POST", f"{base}/api/v1/auth/register/", ACCOUNT)
        assert code == 201, body
        code, _, body = request("POST", f"{base}/api/v1/auth/token/", ACCOUNT)
        assert code == 200, body
        yield Server(base, body["access"])


def _console(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] in {"SEVERE", "WARNING"}]


def _network(driver: Any) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The http(s) URLs the page fetched, and each response's headers by URL.

    From Chromium's network events. A request the Content-Security-Policy blocked
    never leaves the browser: Chromium reports it, then fails it with
    ``blockedReason: csp``; it is left out.
    """
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    headers: dict[str, dict[str, str]] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url.startswith(("http:", "https:")):
                sent[params["requestId"]] = url
        elif message["method"] == "Network.responseReceived":
            response = params["response"]
            headers[response["url"]] = {
                k.lower(): v for k, v in response["headers"].items()
            }
        elif (
            message["method"] == "Network.loadingFailed"
            and params.get("blockedReason") == "csp"
        ):
            blocked.add(params["requestId"])
    fetched = [url for request_id, url in sent.items() if request_id not in blocked]
    return fetched, headers


def _foreign(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).hostname != "127.0.0.1"]


def _wait(driver: Any, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def test_swagger_ui_tries_out_the_task_list_under_the_production_policy(
    browser, production_server
):
    base, token = production_server.base, production_server.token
    browser.get(f"{base}/api/v1/docs/")
    wait = _wait(browser)

    # The operations render from the schema.
    summaries = wait.until(
        ec.presence_of_all_elements_located((By.CSS_SELECTOR, ".opblock-summary"))
    )
    assert len(summaries) >= 10
    paths = {
        e.get_attribute("data-path")
        for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {"/api/v1/tasks/", "/api/v1/auth/token/"} <= paths

    # Authorize with the bearer token.
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
    field = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input"))
    )
    field.send_keys(token)
    browser.find_element(
        By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize"
    ).click()
    wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, ".modal-ux button[aria-label='Remove authorization']")
        )
    )
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()

    # Try it out: GET /api/v1/tasks/ against this server.
    operation = browser.find_element(
        By.XPATH,
        "//div[contains(@class,'opblock-get')][.//span[@data-path='/api/v1/tasks/']]",
    )
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    operation.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, ".execute"))
    operation.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait.until(
        lambda _: operation.find_elements(
            By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
        )
    )
    assert status[0].text.strip() == "200"
    body = operation.find_element(
        By.CSS_SELECTOR,
        ".live-responses-table tr.response .response-col_description pre",
    ).text
    assert json.loads(body) == {"next": None, "previous": None, "results": []}

    # Nothing the policy blocked, nothing else gone wrong, nothing fetched elsewhere.
    assert _console(browser) == []
    urls, headers = _network(browser)
    policy = headers[f"{base}/api/v1/docs/"]["content-security-policy"]
    assert "script-src 'self';" in policy
    assert any(u.startswith(f"{base}/api/v1/tasks/") for u in urls), urls
    assert any("/static/drf_spectacular_sidecar/" in u for u in urls), urls
    assert _foreign(urls) == []


def test_redoc_renders_the_operations_and_fetches_nothing_elsewhere(
    browser, production_server
):
    base = production_server.base
    browser.get(f"{base}/api/v1/redoc/")

    headings = _wait(browser).until(
        lambda d: [h.text for h in d.find_elements(By.CSS_SELECTOR, "h2") if h.text]
    )
    assert len(headings) >= 10, headings

    # The one message allowed: the policy blocking Redoc's logo from Redocly's CDN
    # (api/docs.py), which is what keeps the page from fetching it.
    console = _console(browser)
    assert all(REDOCLY_LOGO in e["message"] for e in console), console
    urls, headers = _network(browser)
    assert (
        "style-src 'self' 'unsafe-inline'"
        in (headers[f"{base}/api/v1/redoc/"]["content-security-policy"])
    )
    assert _foreign(urls) == []
