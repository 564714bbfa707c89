"""Every API route, every kind of caller, generated from the URL configuration.

The table below must have exactly one row per (route, method) the URLconf serves
under /api/v1/: adding a route without deciding who may call it fails this suite.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from todos.models import Task

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"


@dataclass
class World:
    owner: User
    other: User
    task: Task

    def detail(self, name: str) -> str:
        return reverse(name, args=[self.task.pk])


@dataclass(frozen=True)
class Row:
    """How one (route, method) behaves: who may call it and what success is."""

    kind: str  # "owned": a task of the owner's; "self": the caller's own account;
    # "public": no credentials needed
    ok: int
    request: Callable[[World], tuple[str, Any]]


def _task(name: str, body: Any = None) -> Callable[[World], tuple[str, Any]]:
    return lambda w: (w.detail(name), body)


def _plain(name: str, body: Callable[[World], Any] | Any = None):
    def build(w: World) -> tuple[str, Any]:
        return reverse(name), body(w) if callable(body) else body

    return build


ROUTES: dict[tuple[str, str], Row] = {
    ("todos:task-list", "GET"): Row("self", 200, _plain("todos:task-list")),
    ("todos:task-list", "POST"): Row(
        "self", 201, _plain("todos:task-list", {"title": "t"})
    ),
    ("todos:task-detail", "GET"): Row("owned", 200, _task("todos:task-detail")),
    ("todos:task-detail", "PUT"): Row(
        "owned", 200, _task("todos:task-detail", {"title": "p"})
    ),
    ("todos:task-detail", "PATCH"): Row(
        "owned", 200, _task("todos:task-detail", {"title": "q"})
    ),
    ("todos:task-detail", "DELETE"): Row("owned", 204, _task("todos:task-detail")),
    ("todos:task-complete", "POST"): Row("owned", 200, _task("todos:task-complete")),
    ("todos:task-reopen", "POST"): Row("owned", 200, _task("todos:task-reopen")),
    ("accounts:me", "GET"): Row("self", 200, _plain("accounts:me")),
    ("accounts:me", "PATCH"): Row("self", 200, _plain("accounts:me", {"name": "N"})),
    ("accounts:me", "DELETE"): Row(
        "self", 204, _plain("accounts:me", {"password": DEFAULT_PASSWORD})
    ),
    ("accounts:password", "POST"): Row(
        "self",
        204,
        _plain(
            "accounts:password",
            {"current_password": DEFAULT_PASSWORD, "new_password": "An0ther-long-pass"},
        ),
    ),
    ("accounts:logout", "POST"): Row(
        "self",
        204,
        _plain(
            "accounts:logout",
            lambda w: {"refresh": str(RefreshToken.for_user(w.owner))},
        ),
    ),
    ("accounts:register", "POST"): Row(
        "public",
        201,
        _plain(
            "accounts:register",
            {"email": "new@example.com", "password": "Xy-long-pass-9"},
        ),
    ),
    ("accounts:token", "POST"): Row(
        "public",
        200,
        _plain(
            "accounts:token",
            lambda w: {"email": w.owner.email, "password": DEFAULT_PASSWORD},
        ),
    ),
    ("accounts:token-refresh", "POST"): Row(
        "public",
        200,
        _plain(
            "accounts:token-refresh",
            lambda w: {"refresh": str(RefreshToken.for_user(w.owner))},
        ),
    ),
    ("schema", "GET"): Row("public", 200, _plain("schema")),
    ("docs", "GET"): Row("public", 200, _plain("docs")),
    ("redoc", "GET"): Row("public", 200, _plain("redoc")),
}

VIEWSET_METHODS = {"list": "GET", "create": "POST", "retrieve": "GET"}


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> list[tuple[str, Any]]:
    found = []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            found += _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith(
            API_PREFIX
        ):
            found.append((f"{namespace}{p.name}", p.callback))
    return found


def served_routes() -> set[tuple[str, str]]:
    """(url name, method) for every endpoint the URLconf serves under /api/v1/."""
    routes = set()
    for name, callback in _walk(get_resolver().url_patterns):
        actions = getattr(callback, "actions", None)
        if actions:
            methods = {m.upper() for m in actions}
        else:
            methods = set(callback.cls().allowed_methods)
        # HEAD and OPTIONS mirror GET and describe the route; DRF adds them itself.
        routes |= {(name, m) for m in methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_served_route_has_exactly_one_row():
    assert served_routes() == set(ROUTES)


# --- callers ------------------------------------------------------------------------


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-datetime.timedelta(seconds=1))
    return str(token)


@pytest.fixture
def world() -> World:
    owner = UserFactory.create()
    other = UserFactory.create()
    task = TaskFactory.create(
        owner=owner, status="completed", completed_at="2030-01-01T00:00:00Z"
    )
    return World(owner=owner, other=other, task=task)


def _call(client: APIClient, method: str, url: str, body: Any):
    return getattr(client, method.lower())(url, body, format="json")


def _rows(*kinds: str) -> list[Any]:
    return [
        pytest.param(key, row, id=f"{key[1]} {key[0]}")
        for key, row in ROUTES.items()
        if row.kind in kinds
    ]


@pytest.mark.parametrize(("key", "row"), _rows("owned", "self", "public"))
def test_the_owner_succeeds(world, key, row):
    _, method = key
    url, body = row.request(world)
    response = _call(_client(str(AccessToken.for_user(world.owner))), method, url, body)
    assert response.status_code == row.ok, response.content


@pytest.mark.parametrize(("key", "row"), _rows("owned"))
def test_another_user_gets_404_for_the_owners_objects(world, key, row):
    _, method = key
    url, body = row.request(world)
    response = _call(_client(str(AccessToken.for_user(world.other))), method, url, body)
    assert response.status_code == status.HTTP_404_NOT_FOUND
    world.task.refresh_from_db()
    assert world.task.version == 1


@pytest.mark.parametrize("caller", ["anonymous", "expired", "deactivated", "deleted"])
@pytest.mark.parametrize(("key", "row"), _rows("owned", "self"))
def test_callers_without_valid_credentials_get_401(world, key, row, caller):
    _, method = key
    token = {
        "anonymous": None,
        "expired": _expired(world.owner),
        "deactivated": str(AccessToken.for_user(world.owner)),
        "deleted": str(AccessToken.for_user(world.owner)),
    }[caller]
    url, body = row.request(world)
    if caller == "deactivated":
        User.objects.filter(pk=world.owner.pk).update(is_active=False)
    if caller == "deleted":
        world.owner.delete()
    response = _call(_client(token), method, url, body)
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("key", "row"), _rows("public"))
def test_public_routes_need_no_credentials(world, key, row):
    _, method = key
    url, body = row.request(world)
    response = _call(_client(None), method, url, body)
    assert response.status_code == row.ok, response.content
