"""The route table: one row per (route, method) served under /api/.

That is /api/v1/ (our tokens) and the compatibility routes /api/{user_id}/tasks
(Better Auth tokens, ``auth="better-auth"``). The route matrix, the outage test and
the schema test all read it; adding a route without a row fails
tests/adversarial/test_route_matrix.py.
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
from betterauth.models import ExternalIdentity
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from todos.models import Label, Task, TaskLabel, TaskList

API_PREFIX = "api/"
OWNER_SUBJECT = "baOwner000000000000000000000001"
OTHER_SUBJECT = "baOther000000000000000000000002"
NEW_PASSWORD = "An0ther-long-pass"


@dataclass
class World:
    """Two users with a task, a list, a label and a refresh token each.

    ``caller`` makes the request. The owner's task is in the owner's list and
    carries the owner's label.
    """

    owner: User
    other: User
    task: Task
    other_task: Task
    caller: User
    # Signs Better Auth tokens (tests.support.betterauth.Issuer) for the compat rows.
    issuer: Any = None

    def subject_of(self, user: User) -> str:
        return OWNER_SUBJECT if user == self.owner else OTHER_SUBJECT

    def better_auth_token(self, user: User, **claims: Any) -> str:
        return str(self.issuer.token(self.subject_of(user), **claims))

    task_list: TaskList | None = None
    other_task_list: TaskList | None = None
    label: Label | None = None
    other_label: Label | None = None

    def detail(self, name: str) -> str:
        return reverse(name, args=[self.task.pk])

    def owned(self, name: str, attribute: str) -> str:
        return reverse(name, args=[getattr(self, attribute).pk])

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
    # Whose tokens the route takes: "api" (ours) or "better-auth".
    auth: str = "api"


def _task(name: str, body: Any = None) -> Callable[[World], tuple[str, Any]]:
    return lambda w: (w.detail(name), body)


def _owned(
    name: str, attribute: str, body: Any = None, query: str = ""
) -> Callable[[World], tuple[str, Any]]:
    return lambda w: (w.owned(name, attribute) + query, body)


def _plain(name: str, body: Callable[[World], Any] | Any = None):
    def build(w: World) -> tuple[str, Any]:
        return reverse(name), body(w) if callable(body) else body

    return build


def _as(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _compat(
    name: str, body: Any = None, *, task: bool = True
) -> Callable[[World], tuple[str, Any]]:
    """A compat URL in the caller's own name (``{user_id}`` = its subject)."""

    def build(w: World) -> tuple[str, Any]:
        kwargs = {"user_id": w.subject_of(w.caller)}
        if task:
            kwargs["pk"] = str(w.task.pk)
        return reverse(name, kwargs=kwargs), body

    return build


def _compat_lists_only_its_tasks(w: World, response: Any) -> None:
    assert [t["id"] for t in response.json()] == [str(w.callers_task.pk)]
    assert {t["user_id"] for t in response.json()} == {w.subject_of(w.caller)}


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


def _lists_only_its(model: type[TaskList] | type[Label]) -> Check:
    def check(w: World, response: Any) -> None:
        mine = model.objects.filter(owner=w.caller)
        assert [item["id"] for item in response.json()] == [
            str(pk) for pk in mine.values_list("pk", flat=True)
        ]
        assert len(response.json()) == 1

    return check


def _creates_its_own(model: type[TaskList] | type[Label]) -> Check:
    def check(w: World, response: Any) -> None:
        created = model.objects.get(pk=response.json()["id"])
        assert (created.owner_id, created.name) == (w.caller.pk, "New")

    return check


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
    ("todos:task-move", "POST"): Row(
        "owned", 200, _task("todos:task-move", {"to": "bottom"})
    ),
    ("todos:list-list", "GET"): Row(
        "self", 200, _plain("todos:list-list"), _lists_only_its(TaskList)
    ),
    ("todos:list-list", "POST"): Row(
        "self",
        201,
        _plain("todos:list-list", {"name": "New"}),
        _creates_its_own(TaskList),
    ),
    ("todos:list-detail", "GET"): Row(
        "owned", 200, _owned("todos:list-detail", "task_list")
    ),
    ("todos:list-detail", "PUT"): Row(
        "owned", 200, _owned("todos:list-detail", "task_list", {"name": "P"})
    ),
    ("todos:list-detail", "PATCH"): Row(
        "owned", 200, _owned("todos:list-detail", "task_list", {"color": "red"})
    ),
    ("todos:list-detail", "DELETE"): Row(
        "owned",
        204,
        _owned("todos:list-detail", "task_list", query="?tasks=move_to_inbox"),
    ),
    ("todos:list-move", "POST"): Row(
        "owned", 200, _owned("todos:list-move", "task_list", {"to": "top"})
    ),
    ("todos:label-list", "GET"): Row(
        "self", 200, _plain("todos:label-list"), _lists_only_its(Label)
    ),
    ("todos:label-list", "POST"): Row(
        "self",
        201,
        _plain("todos:label-list", {"name": "New"}),
        _creates_its_own(Label),
    ),
    ("todos:label-detail", "GET"): Row(
        "owned", 200, _owned("todos:label-detail", "label")
    ),
    ("todos:label-detail", "PUT"): Row(
        "owned", 200, _owned("todos:label-detail", "label", {"name": "P"})
    ),
    ("todos:label-detail", "PATCH"): Row(
        "owned", 200, _owned("todos:label-detail", "label", {"color": "red"})
    ),
    ("todos:label-detail", "DELETE"): Row(
        "owned", 204, _owned("todos:label-detail", "label")
    ),
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
    ("api-root", "GET"): Row("public", 200, _plain("api-root")),
    ("compat:tasks", "GET"): Row(
        "self",
        200,
        _compat("compat:tasks", task=False),
        _compat_lists_only_its_tasks,
        auth="better-auth",
    ),
    ("compat:tasks", "POST"): Row(
        "self",
        201,
        _compat("compat:tasks", {"title": "t"}, task=False),
        _creates_its_own_task,
        auth="better-auth",
    ),
    ("compat:task", "GET"): Row(
        "owned", 200, _compat("compat:task"), auth="better-auth"
    ),
    ("compat:task", "PUT"): Row(
        "owned", 200, _compat("compat:task", {"title": "p"}), auth="better-auth"
    ),
    ("compat:task", "PATCH"): Row(
        "owned", 200, _compat("compat:task", {"completed": False}), auth="better-auth"
    ),
    ("compat:task", "DELETE"): Row(
        "owned", 204, _compat("compat:task"), auth="better-auth"
    ),
    ("compat:task-complete", "PATCH"): Row(
        "owned", 200, _compat("compat:task-complete"), auth="better-auth"
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
        elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).lstrip(
            "^"
        ).startswith(API_PREFIX):
            found.append((f"{namespace}{p.name}", p.callback))
    return found


def served_routes() -> set[tuple[str, str]]:
    """(url name, method) for every endpoint the URLconf serves under /api/."""
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


def make_world(issuer: Any = None) -> World:
    """Two users, each with a task, a list, a label and a Better Auth identity; the
    owner's task is completed, in the owner's list and labelled with the owner's
    label. ``issuer`` signs the Better Auth tokens of the compat rows."""
    owner = UserFactory.create()
    other = UserFactory.create()
    for user, subject in ((owner, OWNER_SUBJECT), (other, OTHER_SUBJECT)):
        # The profile the issuer's tokens claim: a request writes nothing to it.
        claimed = issuer.claims(subject) if issuer is not None else {}
        ExternalIdentity.objects.create(
            provider="better-auth",
            subject=subject,
            user=user,
            email=claimed.get("email", ""),
            name=claimed.get("name", ""),
            email_verified=claimed.get("emailVerified"),
        )
    lists = {
        user.pk: TaskList.objects.create(owner=user, name="L", position=1)
        for user in (owner, other)
    }
    labels = {
        user.pk: Label.objects.create(owner=user, name="l") for user in (owner, other)
    }
    task = TaskFactory.create(
        owner=owner,
        status="completed",
        completed_at="2030-01-01T00:00:00Z",
        list=lists[owner.pk],
    )
    TaskLabel.objects.create(owner=owner, task=task, label=labels[owner.pk])
    other_task = TaskFactory.create(owner=other)
    for user in (owner, other):
        RefreshToken.for_user(user)
    return World(
        owner=owner,
        other=other,
        task=task,
        other_task=other_task,
        caller=owner,
        issuer=issuer,
        task_list=lists[owner.pk],
        other_task_list=lists[other.pk],
        label=labels[owner.pk],
        other_label=labels[other.pk],
    )
