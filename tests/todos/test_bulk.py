"""POST /api/v1/tasks/bulk/ (todos/batch.py): many operations, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import status

from tests.factories import TaskFactory
from tests.support.problems import assert_problem
from todos.models import Task, TaskTombstone

pytestmark = pytest.mark.django_db

BULK = reverse("todos:task-bulk")


def _rows() -> dict[str, tuple[Any, ...]]:
    fields = [f.attname for f in Task._meta.concrete_fields]
    return {str(r[0]): r for r in Task.objects.order_by("pk").values_list(*fields)}


def test_every_kind_of_operation_applies_in_order(auth_client, user):
    edit, gone, done, undone, whole = TaskFactory.create_batch(5, owner=user)
    Task.objects.filter(pk=undone.pk).update(
        status="completed", completed_at=timezone.now()
    )
    etag = auth_client.get(reverse("todos:task-detail", args=[edit.pk]))["ETag"]

    response = auth_client.post(
        BULK,
        {
            "operations": [
                {"op": "create", "task": {"title": "new", "priority": "high"}},
                {
                    "op": "update",
                    "id": str(edit.pk),
                    "if_match": etag,
                    "task": {"title": "edited"},
                },
                {"op": "delete", "id": str(gone.pk)},
                {"op": "complete", "id": str(done.pk)},
                {"op": "reopen", "id": str(undone.pk)},
                {"op": "replace", "id": str(whole.pk), "task": {"title": "whole"}},
            ]
        },
    )

    assert response.status_code == status.HTTP_200_OK, response.content
    results = response.json()["results"]
    assert [(r["op"], r["status"]) for r in results] == [
        ("create", 201),
        ("update", 200),
        ("delete", 204),
        ("complete", 200),
        ("reopen", 200),
        ("replace", 200),
    ]
    for result in results:
        if result["op"] == "delete":
            assert result == {"op": "delete", "status": 204, "id": str(gone.pk)}
            continue
        detail = auth_client.get(reverse("todos:task-detail", args=[result["id"]]))
        assert result["task"] == detail.json()
        assert result["etag"] == detail["ETag"]
    assert Task.objects.get(pk=results[0]["id"]).owner == user
    assert Task.objects.get(pk=edit.pk).title == "edited"
    assert not Task.objects.filter(pk=gone.pk).exists()
    assert TaskTombstone.objects.get().task_id == gone.pk
    assert Task.objects.get(pk=done.pk).status == "completed"
    assert Task.objects.get(pk=undone.pk).status == "pending"
    replaced = Task.objects.get(pk=whole.pk)
    assert (replaced.title, replaced.description) == ("whole", "")


def _fails_and_changes_nothing(auth_client, body, code, pointer, problem=None):
    before = _rows()
    tombstones = TaskTombstone.objects.count()
    response = auth_client.post(BULK, body)
    result = assert_problem(response, code, problem)
    assert pointer in [e["pointer"] for e in result["errors"]], result
    assert _rows() == before
    assert TaskTombstone.objects.count() == tombstones
    return result


def test_an_invalid_item_fails_the_batch_naming_it(auth_client, user):
    task = TaskFactory.create(owner=user)
    _fails_and_changes_nothing(
        auth_client,
        {
            "operations": [
                {"op": "create", "task": {"title": "fine"}},
                {"op": "delete", "id": str(task.pk)},
                {"op": "create", "task": {"title": "  "}},
            ]
        },
        400,
        "/operations/2/task/title",
        "validation-error",
    )


def test_another_users_task_fails_the_batch_with_a_plain_404(
    auth_client, user, other_user
):
    mine = TaskFactory.create(owner=user)
    theirs = TaskFactory.create(owner=other_user)
    missing = "0190a000-0000-7000-8000-000000000000"
    answers = []
    for foreign in (str(theirs.pk), missing):
        body = _fails_and_changes_nothing(
            auth_client,
            {
                "operations": [
                    {"op": "complete", "id": str(mine.pk)},
                    {"op": "update", "id": foreign, "task": {"title": "x"}},
                ]
            },
            404,
            "/operations/1/id",
        )
        answers.append(body)
    # Another user's task and a missing one are indistinguishable.
    assert answers[0] == answers[1]
    theirs.refresh_from_db()
    assert theirs.title != "x"


def test_a_stale_if_match_fails_the_batch_with_412(auth_client, user):
    task = TaskFactory.create(owner=user)
    stale = f'"{task.pk}.{task.version}"'
    Task.objects.filter(pk=task.pk).update(title="moved on")
    _fails_and_changes_nothing(
        auth_client,
        {
            "operations": [
                {"op": "create", "task": {"title": "fine"}},
                {"op": "delete", "id": str(task.pk), "if_match": stale},
            ]
        },
        412,
        "/operations/1/if_match",
    )


def test_a_task_deleted_earlier_in_the_batch_is_404_later(auth_client, user):
    task = TaskFactory.create(owner=user)
    _fails_and_changes_nothing(
        auth_client,
        {
            "operations": [
                {"op": "delete", "id": str(task.pk)},
                {"op": "complete", "id": str(task.pk)},
            ]
        },
        404,
        "/operations/1/id",
    )


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/operations"),
        ({"operations": []}, "/operations"),
        (
            {"operations": [{"op": "create", "task": {"title": "t"}}] * 101},
            "/operations",
        ),
        ({"operations": [{"op": "destroy", "id": "x"}]}, "/operations/0/op"),
        (
            {"operations": [{"op": "update", "task": {"title": "t"}}]},
            "/operations/0/id",
        ),
        ({"operations": [{"op": "create"}]}, "/operations/0/task"),
        ({"operations": [{"op": "complete", "id": "nope"}]}, "/operations/0/id"),
        (
            {"operations": [{"op": "create", "task": {"title": "t", "owner": "x"}}]},
            "/operations/0/task/owner",
        ),
        (
            {"operations": [{"op": "create", "task": {"title": "t"}, "owner": "x"}]},
            "/operations/0/owner",
        ),
        (
            {
                "operations": [
                    {
                        "op": "delete",
                        "id": "0190a000-0000-7000-8000-000000000000",
                        "task": {},
                    }
                ]
            },
            "/operations/0/task",
        ),
        ({"operations": {"op": "create"}}, "/operations"),
        ({"operations": [], "owner": "x"}, "/owner"),
    ],
)
def test_malformed_batches_are_400_pointing_at_the_fault(auth_client, body, pointer):
    _fails_and_changes_nothing(auth_client, body, 400, pointer, "validation-error")


def test_the_query_count_grows_with_the_operations_only(auth_client, user):
    def cost(count: int) -> int:
        tasks = TaskFactory.create_batch(count, owner=user)
        operations = []
        for n, task in enumerate(tasks):
            operations += [
                {"op": "create", "task": {"title": f"n{n}"}},
                {"op": "update", "id": str(task.pk), "task": {"title": f"e{n}"}},
                {"op": "complete", "id": str(task.pk)},
                {"op": "delete", "id": str(task.pk)},
            ]
        with CaptureQueriesContext(connection) as queries:
            response = auth_client.post(BULK, {"operations": operations})
        assert response.status_code == 200, response.content
        return len(queries)

    small, large = cost(2), cost(12)
    per_operation = (large - small) / 40
    # Each operation costs what its single request does (a delete, the dearest,
    # reads its owner, claims a number, locks, writes a tombstone and deletes).
    assert per_operation <= 6, (small, large)
    assert small - 8 * per_operation <= 6, (small, large)


def test_a_batch_with_an_idempotency_key_replays(auth_client, user):
    body = {"operations": [{"op": "create", "task": {"title": "once"}}]}
    first = auth_client.post(BULK, body, HTTP_IDEMPOTENCY_KEY="b-1")
    again = auth_client.post(BULK, body, HTTP_IDEMPOTENCY_KEY="b-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Task.objects.filter(owner=user).count() == 1


def test_the_feed_shows_a_batch_as_its_changes(auth_client, user):
    task = TaskFactory.create(owner=user)
    token = auth_client.get(reverse("todos:task-changes")).json()["since"]
    auth_client.post(
        BULK,
        {
            "operations": [
                {"op": "create", "task": {"title": "new"}},
                {"op": "delete", "id": str(task.pk)},
            ]
        },
    )
    page = auth_client.get(reverse("todos:task-changes"), {"since": token}).json()
    assert [item["task"]["title"] for item in page["changed"]] == ["new"]
    assert page["deleted"] == [str(task.pk)]
