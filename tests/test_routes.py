"""Every API route, every kind of caller, generated from the URL configuration.

The table below must have exactly one row per (route, method) the URLconf serves
under /api/v1/: adding a route without deciding who may call it fails this suite.

The callers: the owner of the world's task, another user, and a token that is
missing, expired, or of a deactivated or deleted account. On a route of the caller's
own ("self"), each signed-in user sees and changes only its own account and tasks; on
the owner's task another user gets a 404; a bad token is a 401 problem that writes
nothing. Public routes need no token; the auth endpoints ignore one, while the
schema and docs pages, which authenticate whoever sends one, refuse a bad one.
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
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from todos.models import Task

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"
NEW_PASSWORD = "An0ther-long-pass"


@dataclass
class World:
    """Two users with a task and a refresh token each; ``caller`` makes the request."""

    owner: User
    other: User
    task: Task
    other_task: Task
    caller: User

    def detail(self, name: str) -> str:
        return reverse(name, args=[self.task.pk])

    @property
    def bystander(self) -> User:
        return self.other if self.caller == self.owner else self.owner

    @property
    def callers_task(self) -> Task:
        return self.task if self.caller == self.owner else self.other_task


Check = Callable[[World, Any], None]


@dataclass(frozen=True)
class Row:
    """How one (route, method) behaves: who may call it and what success is."""

    kind: str  # "owned": a task of the owner's; "self": the caller's own account;
    # "public": no credentials needed
    ok: int
    request: Callable[[World], tuple[str, Any]]
    # "self": what a success shows or changes, all of it the caller's own.
    mine: Check | None = None


def _task(name: str, body: Any = None) -> Callable[[World], tuple[str, Any]]:
    return lambda w: (w.detail(name), body)


def _plain(name: str, body: Callable[[World], Any] | Any = None):
    def build(w: World) -> tuple[str, Any]:
        return reverse(name), body(w) if callable(body) else body

    return build


def _lists_only_its_tasks(w: World, response: Any) -> None:
    detail = _as(w.caller).get(reverse("todos:task-detail", args=[w.callers_task.pk]))
    assert detail.status_code == status.HTTP_200_OK
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [detail.json()],
    }


def _creates_its_own_task(w: World, response: Any) -> None:
    created = Task.objects.get(pk=response.json()["id"])
    assert (created.owner_id, created.title) == (w.caller.pk, "t")


def _shows_its_own_profile(w: World, response: Any) -> None:
    w.caller.refresh_from_db()
    body = response.json()
    joined = datetime.datetime.fromisoformat(body.pop("date_joined"))
    assert body == {
        "id": str(w.caller.pk),
        "email": w.caller.email,
        "name": w.caller.name,
    }
    assert joined == w.caller.date_joined


def _renames_itself(w: World, response: Any) -> None:
    _shows_its_own_profile(w, response)
    assert w.caller.name == "N"


def _deletes_itself(w: World, response: Any) -> None:
    assert not User.objects.filter(pk=w.caller.pk).exists()


def _changes_its_password(w: World, response: Any) -> None:
    w.caller.refresh_from_db()
    assert w.caller.check_password(NEW_PASSWORD)


def _logs_itself_out(w: World, response: Any) -> None:
    assert BlacklistedToken.objects.filter(token__user=w.caller).count() == 1


ROUTES: dict[tuple[str, str], Row] = {
    ("todos:task-list", "GET"): Row(
        "self", 200, _plain("todos:task-list"), _lists_only_its_tasks
    ),
    ("todos:task-list", "POST"): Row(
        "self", 201, _plain("todos:task-list", {"title": "t"}), _creates_its_own_task
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
    ("accounts:me", "GET"): Row(
        "self", 200, _plain("accounts:me"), _shows_its_own_profile
    ),
    ("accounts:me", "PATCH"): Row(
        "self", 200, _plain("accounts:me", {"name": "N"}), _renames_itself
    ),
    ("accounts:me", "DELETE"): Row(
        "self",
        204,
        _plain("accounts:me", {"password": DEFAULT_PASSWORD}),
        _deletes_itself,
    ),
    ("accounts:password", "POST"): Row(
        "self",
        204,
        _plain(
            "accounts:password",
            {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        ),
        _changes_its_password,
    ),
    ("accounts:logout", "POST"): Row(
        "self",
        204,
        _plain(
            "accounts:logout",
            lambda w: {"refresh": str(RefreshToken.for_user(w.caller))},
        ),
        _logs_itself_out,
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


def test_every_self_route_says_what_its_caller_gets():
    assert [
        key for key, row in ROUTES.items() if row.kind == "self" and not row.mine
    ] == []


# --- callers ------------------------------------------------------------------------


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _as(user: User) -> APIClient:
    return _client(str(AccessToken.for_user(user)))


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-datetime.timedelta(seconds=1))
    return str(token)


def _bad_token(caller: str, user: User) -> str | None:
    """A bearer token of ``caller``'s kind for ``user`` (None: anonymous).

    Deactivates or deletes ``user`` as the kind says: call it once the request's
    body is built.
    """
    if caller == "anonymous":
        return None
    if caller == "expired":
        return _expired(user)
    token = str(AccessToken.for_user(user))
    if caller == "deactivated":
        User.objects.filter(pk=user.pk).update(is_active=False)
    if caller == "deleted":
        user.delete()
    return token


BAD_CALLERS = ["anonymous", "expired", "deactivated", "deleted"]


@pytest.fixture
def world() -> World:
    owner = UserFactory.create()
    other = UserFactory.create()
    task = TaskFactory.create(
        owner=owner, status="completed", completed_at="2030-01-01T00:00:00Z"
    )
    other_task = TaskFactory.create(owner=other)
    for user in (owner, other):
        RefreshToken.for_user(user)
    return World(
        owner=owner, other=other, task=task, other_task=other_task, caller=owner
    )


def _call(client: APIClient, method: str, url: str, body: Any):
    return getattr(client, method.lower())(url, body, format="json")


def _everything() -> dict[str, list[Any]]:
    """Every row of every table a request could write."""
    models = [User, Task, OutstandingToken, BlacklistedToken]
    return {
        model.__name__: list(model._default_manager.order_by("pk").values_list())
        for model in models
    }


def _footprint(user: User) -> dict[str, list[Any]]:
    """Everything stored about ``user``: the account, its tasks and its tokens."""
    return {
        "account": list(User.objects.filter(pk=user.pk).values_list()),
        "tasks": list(Task.objects.filter(owner=user).order_by("pk").values_list()),
        "tokens": list(
            OutstandingToken.objects.filter(user=user).order_by("pk").values_list()
        ),
        "revoked": list(
            BlacklistedToken.objects.filter(token__user=user)
            .order_by("pk")
            .values_list()
        ),
    }


def _assert_401_problem(response: Any) -> None:
    assert response.status_code == status.HTTP_401_UNAUTHORIZED, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status.HTTP_401_UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Bearer")


def _rows(*kinds: str) -> list[Any]:
    return [
        pytest.param(key, row, id=f"{key[1]} {key[0]}")
        for key, row in ROUTES.items()
        if row.kind in kinds
    ]


@pytest.mark.parametrize(("key", "row"), _rows("owned", "public"))
def test_the_owner_succeeds(world, key, row):
    _, method = key
    url, body = row.request(world)
    response = _call(_as(world.owner), method, url, body)
    assert response.status_code == row.ok, response.content


@pytest.mark.parametrize("caller", ["owner", "other"])
@pytest.mark.parametrize(("key", "row"), _rows("self"))
def test_each_user_gets_and_changes_only_its_own_account_and_tasks(
    world, key, row, caller
):
    _, method = key
    world.caller = getattr(world, caller)
    url, body = row.request(world)
    untouched = _footprint(world.bystander)

    response = _call(_as(world.caller), method, url, body)

    assert response.status_code == row.ok, response.content
    row.mine(world, response)
    assert _footprint(world.bystander) == untouched


@pytest.mark.parametrize(("key", "row"), _rows("owned"))
def test_another_user_gets_404_for_the_owners_objects(world, key, row):
    _, method = key
    url, body = row.request(world)
    before = _everything()
    response = _call(_as(world.other), method, url, body)
    assert response.status_code == status.HTTP_404_NOT_FOUND
    assert _everything() == before


@pytest.mark.parametrize("caller", BAD_CALLERS)
@pytest.mark.parametrize(("key", "row"), _rows("owned", "self"))
def test_callers_without_valid_credentials_get_401_and_write_nothing(
    world, key, row, caller
):
    _, method = key
    url, body = row.request(world)
    token = _bad_token(caller, world.owner)
    before = _everything()

    response = _call(_client(token), method, url, body)

    _assert_401_problem(response)
    assert _everything() == before


def _public_cells() -> list[Any]:
    return [
        pytest.param(*cell.values, caller, id=f"{cell.id}-{caller}")
        for cell in _rows("public")
        for caller in BAD_CALLERS
    ]


@pytest.mark.parametrize(("key", "row", "caller"), _public_cells())
def test_public_routes_need_no_token_and_ignore_a_bad_one(world, key, row, caller):
    """The bad token is another account's: the body (the owner's login) stays good.

    Public routes read no credentials at all, so a stale token left in a client
    cannot turn a login, a refresh or the docs into a 401.
    """
    _, method = key
    url, body = row.request(world)
    token = _bad_token(caller, world.other)

    response = _call(_client(token), method, url, body)

    assert response.status_code == row.ok, response.content
