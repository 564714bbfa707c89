"""The route table: one row per (route, method) served under /api/v1/.

The route matrix, the outage test and the schema test all read it; adding a route
without a row fails tests/adversarial/test_route_matrix.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from todos.models import Task

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


def _as(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _lists_only_its_tasks(w: World, response: Any) -> None:
    detail = _as(w.caller).get(reverse("todos:task-detail", args=[w.callers_task.pk]))
    assert detail.status_code == status.HTTP_200_OK
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [detail.json()],
    }


def _syncs_only_its_tasks(w: World, response: Any) -> None:
    detail = _as(w.caller).get(reverse("todos:task-detail", args=[w.callers_task.pk]))
    assert detail.status_code == status.HTTP_200_OK
    body = response.json()
    assert body["changed"] == [{"etag": detail["ETag"], "task": detail.json()}]
    assert (body["deleted"], body["has_more"]) == ([], False)


def _bulk_creates_its_own_task(w: World, response: Any) -> None:
    (result,) = response.json()["results"]
    created = Task.objects.get(pk=result["id"])
    assert (created.owner_id, created.title) == (w.caller.pk, "t")


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
    ("todos:task-changes", "GET"): Row(
        "self", 200, _plain("todos:task-changes"), _syncs_only_its_tasks
    ),
    ("todos:task-bulk", "POST"): Row(
        "self",
        200,
        _plain(
            "todos:task-bulk",
            {"operations": [{"op": "create", "task": {"title": "t"}}]},
        ),
        _bulk_creates_its_own_task,
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


def make_world() -> World:
    """Two users, each with a task; the owner's is completed."""
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
