"""Mass assignment on list and label writes, and cross-user references from tasks.

The contract is the tasks' (test_mass_assignment_tasks.py): an unknown key is a 400
naming it and nothing is written; a read-only key of the representation is accepted
and ignored; the owner is always the requester. A task body naming another user's
list or label is a 400 naming the field, exactly as for an id that exists nowhere.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework import status

from tests.support.problems import assert_problem
from todos.models import Label, Task, TaskLabel, TaskList

pytestmark = pytest.mark.django_db

MISSING_ID = "0190d4a8-0000-7000-8000-000000000000"
FORGED_TIME = "2001-02-03T04:05:06Z"
ATTACKS = [
    "owner",
    "owner_id",
    "user",
    "version",
    "tasks",
    "task_count",
    "is_staff",
    "Name",
    "colour",
    "__proto__",
    "",
]
# name: (model, list url name, detail url name, read-only keys of the representation)
KINDS: dict[str, tuple[Any, str, str, set[str]]] = {
    "list": (
        TaskList,
        "todos:list-list",
        "todos:list-detail",
        {"id", "position", "created_at", "updated_at"},
    ),
    "label": (
        Label,
        "todos:label-list",
        "todos:label-detail",
        {"id", "created_at", "updated_at"},
    ),
}


def _rows(model: Any) -> list[tuple[Any, ...]]:
    return list(model.objects.order_by("pk").values_list())


def _make(model: Any, owner: Any, name: str) -> Any:
    if model is TaskList:
        return TaskList.objects.create(owner=owner, name=name, position=1)
    return Label.objects.create(owner=owner, name=name)


@pytest.mark.parametrize("key", ATTACKS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_unknown_key_is_refused_by_name_on_every_write(
    auth_client, user, other_user, kind, key
):
    model, list_name, detail_name, _ = KINDS[kind]
    mine = _make(model, user, "mine")
    before = _rows(model)
    body = {"name": "new", key: str(other_user.pk)}

    responses = [
        auth_client.post(reverse(list_name), body, format="json"),
        auth_client.put(reverse(detail_name, args=[mine.pk]), body, format="json"),
        auth_client.patch(reverse(detail_name, args=[mine.pk]), body, format="json"),
    ]

    for response in responses:
        problem = assert_problem(response, status.HTTP_400_BAD_REQUEST)
        assert [e["field"] for e in problem["errors"]] == [key]
    assert _rows(model) == before


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_read_only_keys_are_ignored_and_the_owner_is_the_requester(
    auth_client, user, kind
):
    model, list_name, detail_name, read_only = KINDS[kind]
    forged = {key: FORGED_TIME if key.endswith("_at") else 7 for key in read_only}
    forged["id"] = MISSING_ID

    created = auth_client.post(
        reverse(list_name), {"name": "new", **forged}, format="json"
    )
    assert created.status_code == status.HTTP_201_CREATED, created.content
    row = model.objects.get(pk=created.json()["id"])
    changed = auth_client.patch(
        reverse(detail_name, args=[row.pk]),
        {"name": "renamed", **forged},
        format="json",
    )

    assert changed.status_code == status.HTTP_200_OK, changed.content
    row.refresh_from_db()
    assert (row.owner_id, row.name, row.version) == (user.pk, "renamed", 2)
    assert str(row.pk) != MISSING_ID
    assert FORGED_TIME not in changed.content.decode()
    if model is TaskList:
        assert row.position != 7


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_another_users_list_or_label_is_a_404_whatever_the_body(
    auth_client, other_user, kind, method
):
    model, _, detail_name, _ = KINDS[kind]
    theirs = _make(model, other_user, "theirs")
    before = _rows(model)
    url = reverse(detail_name, args=[theirs.pk])
    if method == "delete":
        url += "?tasks=delete"

    response = getattr(auth_client, method)(
        url, {"name": "mine", "owner": "x"}, format="json"
    )

    assert_problem(response, status.HTTP_404_NOT_FOUND)
    assert _rows(model) == before


@pytest.mark.parametrize("method", ["post", "put", "patch"])
@pytest.mark.parametrize("field", ["list", "labels"])
def test_a_task_naming_another_users_list_or_label_is_a_400_like_a_missing_id(
    auth_client, user, other_user, field, method
):
    their_list = _make(TaskList, other_user, "theirs")
    their_label = _make(Label, other_user, "theirs")
    task = Task.objects.create(owner=user, title="mine")
    foreign = str(their_list.pk if field == "list" else their_label.pk)
    url = (
        reverse("todos:task-list")
        if method == "post"
        else reverse("todos:task-detail", args=[task.pk])
    )

    def send(value: str) -> Any:
        body = {"title": "t", field: value if field == "list" else [value]}
        return getattr(auth_client, method)(url, body, format="json")

    to_foreign, to_missing = send(foreign), send(MISSING_ID)

    first = assert_problem(to_foreign, status.HTTP_400_BAD_REQUEST)
    second = assert_problem(to_missing, status.HTTP_400_BAD_REQUEST)
    assert [e["field"] for e in first["errors"]] == [field]
    assert first["errors"][0]["message"].replace(foreign, "?") == second["errors"][0][
        "message"
    ].replace(MISSING_ID, "?")
    assert list(Task.objects.values_list("owner_id", "list_id")) == [(user.pk, None)]
    assert not TaskLabel.objects.exists()
