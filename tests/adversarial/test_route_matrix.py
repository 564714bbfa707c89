"""Every API route, every kind of caller, generated from the URL configuration.

The table below must have exactly one row per (route, method) the URLconf serves
under /api/ (/api/v1/ and the Better Auth compatibility routes): adding a route
without deciding who may call it fails this suite. A row's callers present the
tokens its route takes: ours on /api/v1/, Better Auth's on the compat routes, where
a path naming another user is a 403.

The callers: the owner of the world's task, another user, and a token that is
missing, expired, or of a deactivated or deleted account. On a route of the caller's
own ("self"), each signed-in user sees and changes only its own account and tasks; on
the owner's task another user gets a 404; a bad token is a 401 problem that writes
nothing. Public routes need no token; the auth endpoints ignore one, while the
schema and docs pages, which authenticate whoever sends one, refuse a bad one.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from betterauth.models import ExternalIdentity
from tests.support.betterauth import SigningKey
from tests.support.routes import (
    ROUTES,
    Row,
    World,
    served_routes,
)
from todos.models import Label, Task, TaskLabel, TaskList

pytestmark = pytest.mark.django_db


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


def _as(world: World, row: Row, user: User) -> APIClient:
    if row.auth == "better-auth":
        return _client(world.better_auth_token(user))
    return _client(str(AccessToken.for_user(user)))


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-datetime.timedelta(seconds=1))
    return str(token)


def _bad_better_auth_token(caller: str, user: User, world: World) -> str | None:
    """As :func:`_bad_token` for the compat routes.

    A deleted local user is not a bad caller there: the next valid Better Auth token
    makes a new one (just in time); an admin refuses a Better Auth user by
    deactivating it. Instead: a token of ours, and one signed by an unknown key.
    """
    if caller == "anonymous":
        return None
    if caller == "expired":
        return world.better_auth_token(user, exp=1, iat=0)
    if caller == "deactivated":
        User.objects.filter(pk=user.pk).update(is_active=False)
        return world.better_auth_token(user)
    if caller == "deleted":
        return str(AccessToken.for_user(user))
    return world.better_auth_token(user, key=SigningKey("EdDSA"))


def _bad_token(
    caller: str, user: User, world: World | None = None, row: Row | None = None
) -> str | None:
    """A bearer token of ``caller``'s kind for ``user`` (None: anonymous).

    Deactivates or deletes ``user`` as the kind says: call it once the request's
    body is built.
    """
    if world is not None and row is not None and row.auth == "better-auth":
        return _bad_better_auth_token(caller, user, world)
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


def _call(client: APIClient, method: str, url: str, body: Any):
    return getattr(client, method.lower())(url, body, format="json")


def _everything() -> dict[str, list[Any]]:
    """Every row of every table a request could write."""
    models = [
        User,
        Task,
        TaskList,
        Label,
        TaskLabel,
        OutstandingToken,
        BlacklistedToken,
        ExternalIdentity,
    ]
    return {
        model.__name__: list(model._default_manager.order_by("pk").values_list())
        for model in models
    }


def _footprint(user: User) -> dict[str, list[Any]]:
    """Everything stored about ``user``: the account, its tasks and its tokens."""
    return {
        "account": list(User.objects.filter(pk=user.pk).values_list()),
        "tasks": list(Task.objects.filter(owner=user).order_by("pk").values_list()),
        "lists": list(TaskList.objects.filter(owner=user).order_by("pk").values_list()),
        "labels": list(Label.objects.filter(owner=user).order_by("pk").values_list()),
        "links": list(
            TaskLabel.objects.filter(owner=user).order_by("pk").values_list()
        ),
        "tokens": list(
            OutstandingToken.objects.filter(user=user).order_by("pk").values_list()
        ),
        "revoked": list(
            BlacklistedToken.objects.filter(token__user=user)
            .order_by("pk")
            .values_list()
        ),
    }


def _assert_401(response: Any, row: Row) -> None:
    """A 401 problem; on the compat routes served as plain JSON (compat.errors)."""
    assert response.status_code == status.HTTP_401_UNAUTHORIZED, response.content
    expected_type = (
        "application/json" if row.auth == "better-auth" else "application/problem+json"
    )
    assert response["Content-Type"] == expected_type
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
    response = _call(_as(world, row, world.owner), method, url, body)
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

    response = _call(_as(world, row, world.caller), method, url, body)

    assert response.status_code == row.ok, response.content
    row.mine(world, response)
    assert _footprint(world.bystander) == untouched


@pytest.mark.parametrize(("key", "row"), _rows("owned"))
def test_another_user_gets_404_for_the_owners_objects(world, key, row):
    _, method = key
    world.caller = world.other  # a compat URL is in the caller's own name
    url, body = row.request(world)
    before = _everything()
    response = _call(_as(world, row, world.other), method, url, body)
    assert response.status_code == status.HTTP_404_NOT_FOUND
    assert _everything() == before


def _compat_rows() -> list[Any]:
    return [p for p in _rows("owned", "self") if p.values[1].auth == "better-auth"]


@pytest.mark.parametrize(("key", "row"), _compat_rows())
def test_a_compat_path_naming_another_user_is_403_before_any_query(
    world, key, row, django_assert_num_queries
):
    _, method = key
    url, body = row.request(world)  # in the owner's name
    client = _as(world, row, world.other)
    before = _everything()

    with django_assert_num_queries(0):
        response = _call(client, method, url, body)

    assert response.status_code == status.HTTP_403_FORBIDDEN, response.content
    assert isinstance(response.json()["detail"], str)
    assert _everything() == before


@pytest.mark.parametrize("caller", BAD_CALLERS)
@pytest.mark.parametrize(("key", "row"), _rows("owned", "self"))
def test_callers_without_valid_credentials_get_401_and_write_nothing(
    world, key, row, caller
):
    _, method = key
    url, body = row.request(world)
    token = _bad_token(caller, world.owner, world, row)
    before = _everything()

    response = _call(_client(token), method, url, body)

    _assert_401(response, row)
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
