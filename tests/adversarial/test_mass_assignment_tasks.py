"""Mass assignment on every task write: extra keys never change what they name.

Hypothesis adds random keys to otherwise valid bodies: the owner under every alias,
the read-only fields, ``version``, account flags, near-misses of real field names
and junk. A table then sends each named attack key to each write, so that none of
them is left to chance. The contract (README, ``api/serializers.py``):

* an unknown key is a 400 problem naming each unknown key, and nothing is written;
* a read-only key of the representation is accepted and ignored;
* the owner is always the requester, and another user's task stays a 404 whatever
  the body says.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from todos.models import TASK_FIELDS, TASK_READ_ONLY_FIELDS, Task

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as HttpResponse

pytestmark = pytest.mark.django_db

LIST = reverse("todos:task-list")
# The task representation: every key a body may carry.
KNOWN = set(TASK_FIELDS)
READ_ONLY = set(TASK_READ_ONLY_FIELDS)
FORGED_TIME = "2001-02-03T04:05:06Z"

# Placeholders, replaced by real ids once the example's users and tasks exist.
OTHER_USER = "<other user's id>"
OTHER_TASK = "<other user's task id>"
SELF = "<requester's id>"

ATTACK_KEYS = [
    "owner",
    "owner_id",
    "user",
    "user_id",
    "id",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
    "is_staff",
    "is_superuser",
]
NEAR_MISSES = [
    "Owner",
    "OWNER_ID",
    "ownerId",
    "owner.id",
    "owner__id",
    "owner[id]",
    "Title",
    "title ",
    " title",
    "due_date",
    "pk",
    "__proto__",
    "",
]
# Never a writable field: its value would be validated, not refused as unknown.
KEYS = st.one_of(
    st.sampled_from(ATTACK_KEYS),
    st.sampled_from(NEAR_MISSES),
    st.text(max_size=20),
).filter(lambda key: key not in KNOWN - READ_ONLY)
VALUES = st.one_of(
    st.sampled_from([OTHER_USER, OTHER_TASK, SELF, FORGED_TIME]),
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "pk", "email"]), st.text(max_size=5)),
)
EXTRAS = st.one_of(
    st.dictionaries(KEYS, VALUES, min_size=1, max_size=4),
    # Only read-only keys: the request goes through, the keys are ignored.
    st.dictionaries(st.sampled_from(sorted(READ_ONLY)), VALUES, min_size=1),
)
# Bodies the actions without input may get: a JSON object with any keys.
ACTION_BODIES = st.dictionaries(KEYS, VALUES, min_size=1, max_size=4)

EXAMPLES = settings(max_examples=20, deadline=None)


@dataclass
class World:
    owner: User
    other: User
    client: APIClient
    task: Task
    other_task: Task

    def resolve(self, extras: dict[str, Any]) -> dict[str, Any]:
        """``extras`` with the placeholders replaced by this example's ids."""
        real = {
            OTHER_USER: str(self.other.pk),
            OTHER_TASK: str(self.other_task.pk),
            SELF: str(self.owner.pk),
        }
        return {
            key: real.get(value, value) if isinstance(value, str) else value
            for key, value in extras.items()
        }


@contextmanager
def world() -> Iterator[World]:
    """Two users with a task each, undone when the example ends."""
    with transaction.atomic():
        cache.clear()
        owner, other = UserFactory.create(), UserFactory.create()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(owner)}")
        yield World(
            owner,
            other,
            client,
            TaskFactory.create(owner=owner, title="mine"),
            TaskFactory.create(owner=other, title="theirs"),
        )
        transaction.set_rollback(True)


def rows() -> dict[str, tuple[Any, ...]]:
    """Every task, every column."""
    fields = [f.attname for f in Task._meta.concrete_fields]
    return {str(r[0]): r for r in Task.objects.order_by("pk").values_list(*fields)}


def assert_refused_by_name(response: HttpResponse, keys: list[str]) -> None:
    assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == keys
    assert {(e["code"], e["message"]) for e in errors} == {
        ("unknown_field", "Unknown field.")
    }


def unknown_keys(body: dict[str, Any], known: set[str]) -> list[str]:
    return sorted(key for key in body if key not in known)


def assert_server_values(body: dict[str, Any], task: Task) -> None:
    """A 2xx body shows the stored row's read-only values, none of them forged."""
    assert body["id"] == str(task.pk)
    assert body["completed_at"] is None
    assert task.completed_at is None
    for name in ("created_at", "updated_at"):
        stored = getattr(task, name)
        assert datetime.datetime.fromisoformat(body[name]) == stored
        assert stored != datetime.datetime.fromisoformat(FORGED_TIME)


# --- create -------------------------------------------------------------------------


def create_with(w: World, extras: dict[str, Any]) -> None:
    """Create with ``extras``: refused by name, or owned by the requester."""
    body = {"title": "new", **w.resolve(extras)}
    before = rows()

    response = w.client.post(LIST, body, format="json")

    unknown = unknown_keys(body, KNOWN)
    if unknown:
        assert_refused_by_name(response, unknown)
        assert rows() == before
        return
    assert response.status_code == status.HTTP_201_CREATED, response.content
    created = response.json()
    task = Task.objects.get(pk=created["id"])
    assert task.owner_id == w.owner.pk
    assert task.version == 1
    assert_server_values(created, task)
    assert {k: v for k, v in rows().items() if k != created["id"]} == before


@EXAMPLES
@given(extras=EXTRAS)
def test_create_with_extra_keys_refuses_unknown_ones_and_owns_the_task(
    extras: dict[str, Any],
) -> None:
    with world() as w:
        create_with(w, extras)


# --- PUT and PATCH ------------------------------------------------------------------


def update_with(w: World, extras: dict[str, Any], method: str) -> None:
    """PUT or PATCH with ``extras``: refused by name, or read-only fields kept."""
    body = {"title": "renamed", **w.resolve(extras)}
    before = rows()
    url = reverse("todos:task-detail", args=[w.task.pk])

    response = getattr(w.client, method)(url, body, format="json")

    unknown = unknown_keys(body, KNOWN)
    if unknown:
        assert_refused_by_name(response, unknown)
        assert rows() == before
        return
    assert response.status_code == status.HTTP_200_OK, response.content
    task = Task.objects.get(pk=w.task.pk)
    assert task.owner_id == w.owner.pk
    assert task.title == "renamed"
    assert task.created_at == w.task.created_at
    assert task.version == w.task.version + 1
    assert_server_values(response.json(), task)
    after = rows()
    del after[str(w.task.pk)], before[str(w.task.pk)]
    assert after == before


@EXAMPLES
@given(extras=EXTRAS, method=st.sampled_from(["put", "patch"]))
def test_update_with_extra_keys_refuses_unknown_ones_and_keeps_read_only_fields(
    extras: dict[str, Any], method: str
) -> None:
    with world() as w:
        update_with(w, extras, method)


@EXAMPLES
@given(extras=EXTRAS, method=st.sampled_from(["put", "patch", "delete"]))
def test_another_users_task_is_404_whatever_the_body_says(
    extras: dict[str, Any], method: str
) -> None:
    with world() as w:
        body = {"title": "hijacked", **w.resolve(extras)}
        before = rows()
        url = reverse("todos:task-detail", args=[w.other_task.pk])

        response = getattr(w.client, method)(url, body, format="json")

        assert response.status_code == status.HTTP_404_NOT_FOUND, response.content
        assert rows() == before


# --- complete and reopen ------------------------------------------------------------


def act_with(w: World, body: dict[str, Any], action: str) -> None:
    """Complete or reopen with a body of ``body``'s keys: refused, nothing changed."""
    body = w.resolve(body)
    if action == "reopen":
        Task.objects.filter(pk=w.task.pk).update(
            status=Task.Status.COMPLETED, completed_at=w.task.created_at
        )
    before = rows()
    url = reverse(f"todos:task-{action}", args=[w.task.pk])

    response = w.client.post(url, body, format="json")

    assert_refused_by_name(response, sorted(body))
    assert rows() == before


@EXAMPLES
@given(body=ACTION_BODIES, action=st.sampled_from(["complete", "reopen"]))
def test_complete_and_reopen_refuse_any_body_key_and_change_nothing(
    body: dict[str, Any], action: str
) -> None:
    with world() as w:
        act_with(w, body, action)


@pytest.mark.parametrize("action", ["complete", "reopen"])
@pytest.mark.parametrize("body", [None, {}])
def test_complete_and_reopen_take_no_body_or_an_empty_object(
    auth_client: APIClient, user: User, action: str, body: dict[str, Any] | None
) -> None:
    task = TaskFactory.create(owner=user)
    url = reverse(f"todos:task-{action}", args=[task.pk])

    response = auth_client.post(url, body, format="json")

    assert response.status_code == status.HTTP_200_OK, response.content
    assert response.json()["id"] == str(task.pk)


# --- every named key on every write -------------------------------------------------

# Each named key with the value an attacker would send it.
NAMED: dict[str, Any] = {
    "owner": OTHER_USER,
    "owner_id": OTHER_USER,
    "user": OTHER_USER,
    "user_id": OTHER_USER,
    "id": OTHER_TASK,
    "created_at": FORGED_TIME,
    "updated_at": FORGED_TIME,
    "completed_at": FORGED_TIME,
    "version": 99,
    "is_staff": True,
    "is_superuser": True,
    "junk": "junk",
}
WRITES: dict[str, Callable[[World, dict[str, Any]], None]] = {
    "create": create_with,
    "put": lambda w, extras: update_with(w, extras, "put"),
    "patch": lambda w, extras: update_with(w, extras, "patch"),
    "complete": lambda w, extras: act_with(w, extras, "complete"),
    "reopen": lambda w, extras: act_with(w, extras, "reopen"),
}


def test_the_table_names_every_attack_key():
    assert set(ATTACK_KEYS) <= set(NAMED)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("key", NAMED)
def test_every_named_key_on_every_write_is_refused_by_name_or_ignored(
    key: str, write: str
) -> None:
    """Unknown keys: a 400 naming them, nothing written; read-only ones: ignored."""
    with world() as w:
        WRITES[write](w, {key: NAMED[key]})


CHANGES = reverse("todos:task-changes")


@EXAMPLES
@given(extras=st.dictionaries(KEYS, VALUES, min_size=1, max_size=4))
def test_the_changes_feed_refuses_extra_parameters_and_shows_only_the_owners(
    extras: dict[str, Any],
) -> None:
    """The feed reads ``since`` and ``limit`` only: an owner, user or id in the query
    string is a 400 naming it, and the plain feed still lists only the owner's task.
    """
    # An empty list sends no parameter at all.
    extras = {
        k: v for k, v in extras.items() if k not in {"since", "limit"} and v != []
    }
    with world() as w:
        before = rows()
        params = {
            k: ([str(i) for i in v] if isinstance(v, list) else str(v))
            for k, v in w.resolve(extras).items()
        }
        response = w.client.get(CHANGES, params)
        if params:
            assert response.status_code == status.HTTP_400_BAD_REQUEST
            errors = response.json()["errors"]
            assert sorted(e["field"] for e in errors) == sorted(params)
        plain = w.client.get(CHANGES).json()
        assert [item["task"]["id"] for item in plain["changed"]] == [str(w.task.pk)]
        assert rows() == before


# --- bulk ---------------------------------------------------------------------------

BULK = reverse("todos:task-bulk")
OPERATION_KEYS = {"op", "id", "if_match", "task"}


def _escaped(key: str) -> str:
    """A key as one JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


@EXAMPLES
@given(extras=EXTRAS, op=st.sampled_from(["create", "update", "replace"]))
def test_bulk_task_bodies_refuse_unknown_keys_and_own_what_they_create(
    extras: dict[str, Any], op: str
) -> None:
    """Inside a batch, a task body obeys the same rules as the single request."""
    with world() as w:
        body = {"title": "bulk", **w.resolve(extras)}
        operation: dict[str, Any] = {"op": op, "task": body}
        if op != "create":
            operation["id"] = str(w.task.pk)
        before = rows()

        response = w.client.post(BULK, {"operations": [operation]}, format="json")

        unknown = unknown_keys(body, KNOWN)
        if unknown:
            assert response.status_code == status.HTTP_400_BAD_REQUEST
            pointers = [e["pointer"] for e in response.json()["errors"]]
            assert pointers == [
                f"/operations/0/task/{_escaped(key)}" for key in unknown
            ]
            assert rows() == before
            return
        assert response.status_code == status.HTTP_200_OK, response.content
        (result,) = response.json()["results"]
        task = Task.objects.get(pk=result["id"])
        assert task.owner_id == w.owner.pk
        assert task.title == "bulk"
        assert_server_values(result["task"], task)
        after = rows()
        after.pop(str(task.pk))
        before.pop(str(task.pk), None)
        assert after == before


@EXAMPLES
@given(
    extras=st.dictionaries(
        KEYS.filter(lambda key: key not in OPERATION_KEYS),
        VALUES,
        min_size=1,
        max_size=4,
    ),
    op=st.sampled_from(["update", "delete", "complete", "reopen"]),
)
def test_bulk_operations_refuse_extra_keys_and_never_reach_another_users_task(
    extras: dict[str, Any], op: str
) -> None:
    """An owner or user key beside an operation is refused; a foreign id is 404."""
    with world() as w:
        before = rows()
        forged: dict[str, Any] = {"op": op, "id": str(w.task.pk), **w.resolve(extras)}
        if op == "update":
            forged["task"] = {"title": "x"}
        response = w.client.post(BULK, {"operations": [forged]}, format="json")
        assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert pointers == {f"/operations/0/{_escaped(key)}" for key in extras}
        assert rows() == before

        foreign: dict[str, Any] = {"op": op, "id": str(w.other_task.pk)}
        if op == "update":
            foreign["task"] = {"title": "x"}
        response = w.client.post(BULK, {"operations": [foreign]}, format="json")
        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert rows() == before
