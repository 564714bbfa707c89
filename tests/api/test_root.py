"""The API root at / and /api/v1/: name, version and a link to every entry point."""

from __future__ import annotations

import pytest
from rest_framework import status

from tests.support.routes import ROUTES

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
EXPECTED_LINKS = {
    "self": f"{BASE}/api/v1/",
    "docs": f"{BASE}/api/v1/docs/",
    "redoc": f"{BASE}/api/v1/redoc/",
    "schema": f"{BASE}/api/v1/schema/",
    "health": {"live": f"{BASE}/healthz", "ready": f"{BASE}/readyz"},
    "auth": {
        "register": f"{BASE}/api/v1/auth/register/",
        "token": f"{BASE}/api/v1/auth/token/",
        "token_refresh": f"{BASE}/api/v1/auth/token/refresh/",
        "logout": f"{BASE}/api/v1/auth/logout/",
        "me": f"{BASE}/api/v1/auth/me/",
        "password": f"{BASE}/api/v1/auth/password/",
    },
    "tasks": f"{BASE}/api/v1/tasks/",
}


@pytest.mark.parametrize("path", ["/", "/api/v1/"])
def test_the_root_names_the_api_and_links_every_entry_point(api_client, path):
    response = api_client.get(path)

    assert response.status_code == status.HTTP_200_OK
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "name": "Task API",
        "version": "1.0.0",
        "description": "A multi-user task API. Errors are application/problem+json.",
        "links": EXPECTED_LINKS,
    }


def _urls(links):
    for value in links.values():
        yield from _urls(value) if isinstance(value, dict) else [value]


def test_every_link_of_the_root_answers(auth_client):
    """Not a 404: each link leads somewhere (GET-only routes answer 405 to GET)."""
    for url in _urls(auth_client.get("/api/v1/").json()["links"]):
        response = auth_client.get(url)
        assert response.status_code in {200, 405}, (url, response.status_code)


def test_the_root_links_every_public_route_of_the_table():
    """A public route added later should be linked from the root too."""
    public = {name for (name, _), row in ROUTES.items() if row.kind == "public"}
    assert public == {
        "api-root",
        "schema",
        "docs",
        "redoc",
        "accounts:register",
        "accounts:token",
        "accounts:token-refresh",
    }


def test_a_browser_asking_only_for_html_gets_the_json_not_a_406(api_client):
    """The browsable API is off unless DEBUG (config.settings.test: off).

    With DEBUG on, the same browser gets the browsable API's HTML page of the root:
    tests/api/test_middleware.py loads config.settings.local to show it.
    """
    response = api_client.get("/", HTTP_ACCEPT="text/html")

    assert response.status_code == status.HTTP_200_OK
    assert response["Content-Type"] == "application/json"
    assert response.json()["links"] == EXPECTED_LINKS


def test_the_root_reads_no_credentials_and_writes_nothing(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.get("/api/v1/").status_code == status.HTTP_200_OK
    assert api_client.post("/api/v1/", {}).status_code == (
        status.HTTP_405_METHOD_NOT_ALLOWED
    )


def test_links_follow_the_host_and_scheme_the_client_used(api_client):
    response = api_client.get("/", HTTP_HOST="localhost", secure=True)
    assert response.json()["links"]["tasks"] == "https://localhost/api/v1/tasks/"
