"""Every API route while the database, or Redis, is unreachable: 503, retry later.

Driven by the route table of tests/support/routes.py, which must name every route the
URLconf serves, so a new route is covered here as soon as it is in that table.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.support.caches import redis_cache
from tests.support.database import unreachable_database
from tests.support.live import free_port
from tests.support.routes import ROUTES, Row, World

pytestmark = pytest.mark.django_db

# The API root, the OpenAPI schema and the two documentation pages are built from code
# alone: they keep answering during an outage, like /healthz.
NO_DATABASE = {
    ("api-root", "GET"),
    ("schema", "GET"),
    ("docs", "GET"),
    ("redoc", "GET"),
}

UNAVAILABLE = {
    "type": "urn:taskapi:problem:database-unavailable",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "The database is unavailable; retry shortly.",
}


def _rows(*, needs_database: bool) -> list[Any]:
    return [
        pytest.param(key, row, id=f"{key[1]} {key[0]}")
        for key, row in ROUTES.items()
        if (key not in NO_DATABASE) is needs_database
    ]


THROTTLE_UNAVAILABLE = {
    "type": "urn:taskapi:problem:throttle-unavailable",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "The rate limiter is unavailable; retry shortly.",
}


def unreachable_redis() -> AbstractContextManager[Any]:
    """The throttles' cache is a Redis on a port where nothing listens."""
    location = f"redis://127.0.0.1:{free_port()}/0"
    return redis_cache(location, socket_connect_timeout=0.5, socket_timeout=0.5)


def _call_during_outage(
    world: World,
    key: tuple[str, str],
    row: Row,
    outage: Callable[[], AbstractContextManager[Any]] = unreachable_database,
) -> Any:
    """Call the route as its usual caller would, with the database gone."""
    # Built first: some bodies (a refresh token) are written to the database.
    url, body = row.request(world)
    client = APIClient()
    if row.auth == "better-auth":
        token = world.better_auth_token(world.owner)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    elif row.kind != "public":
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(world.owner)}"
        )
    with outage():
        return getattr(client, key[1].lower())(url, body, format="json")


def test_the_routes_that_need_no_database_are_public_rows_of_the_table():
    assert set(ROUTES) >= NO_DATABASE
    assert {ROUTES[key].kind for key in NO_DATABASE} == {"public"}


@pytest.mark.parametrize(("key", "row"), _rows(needs_database=True))
def test_every_route_answers_503_problem_json_while_the_database_is_down(
    world, key, row
):
    response = _call_during_outage(world, key, row)
    assert response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "5"
    if row.auth == "better-auth":  # compat.errors: plain JSON, plus "message"
        assert response["Content-Type"] == "application/json"
        assert response.json() == {**UNAVAILABLE, "message": UNAVAILABLE["detail"]}
    else:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json() == UNAVAILABLE
    assert b"Traceback" not in response.content
    assert b"<" not in response.content


@pytest.mark.parametrize(("key", "row"), _rows(needs_database=False))
def test_the_schema_and_docs_still_answer_while_the_database_is_down(world, key, row):
    response = _call_during_outage(world, key, row)
    assert response.status_code == row.ok


def test_healthz_is_200_and_readyz_503_during_the_same_outage(client):
    with unreachable_database():
        live = client.get("/healthz")
        ready = client.get("/readyz")
    assert (live.status_code, ready.status_code) == (200, 503)
    assert live.json() == {"status": "ok"}
    assert ready["Content-Type"] == "application/problem+json"
    assert ready["Retry-After"] == "5"
    assert ready.json()["status"] == 503


@pytest.mark.parametrize(("key", "row"), _rows(needs_database=True))
def test_every_route_that_counts_requests_answers_503_while_redis_is_down(
    world, key, row
):
    """Every route an authenticated caller uses counts the request in Redis
    first, and so do the sign-up and token endpoints (per client and per email):
    with Redis gone they answer 503 and run nothing. A public route that counts
    nothing (verifying a Better Auth session, say) answers as usual."""
    response = _call_during_outage(world, key, row, unreachable_redis)
    if response.status_code != status.HTTP_503_SERVICE_UNAVAILABLE:
        assert row.kind == "public", response.content[:300]
        assert response.status_code < 500
        return
    assert response["Retry-After"] == "5"
    if row.auth == "better-auth":
        assert response["Content-Type"] == "application/json"
        expected = {**THROTTLE_UNAVAILABLE, "message": THROTTLE_UNAVAILABLE["detail"]}
        assert response.json() == expected
    else:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json() == THROTTLE_UNAVAILABLE


def test_the_sign_up_and_token_endpoints_count_in_redis(world):
    """The exception above is narrow: the endpoints that need no login still
    count every attempt, so they too answer 503 without Redis."""
    counted = [
        key
        for key, row in ROUTES.items()
        if row.kind == "public"
        and _call_during_outage(world, key, row, unreachable_redis).status_code
        == status.HTTP_503_SERVICE_UNAVAILABLE
    ]
    names = {name for name, _ in counted}
    assert {"accounts:register", "accounts:token"} <= names, names
