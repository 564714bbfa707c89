"""The changes feed (todos/changes.py) and the change sequence every write stamps."""

from __future__ import annotations

import datetime
import types
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core import signing
from django.core.management import call_command
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework import status
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete
from tests.factories import TaskFactory
from tests.support.problems import assert_problem
from todos import services
from todos.admin import TaskAdmin
from todos.models import ChangeSequence, Task, TaskTombstone, claim_change_seq

pytestmark = pytest.mark.django_db

CHANGES = reverse("todos:task-changes")
LIST = reverse("todos:task-list")


def sync(client: APIClient, since: str | None = None, limit: int | None = None):
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    response = client.get(CHANGES, params)
    assert response.status_code == status.HTTP_200_OK, response.content[:300]
    return response.json()


def sync_all(
    client: APIClient,
    replica: dict[str, dict[str, Any]],
    since: str | None = None,
    limit: int = 3,
) -> str:
    """Apply every page to ``replica``; return the last token."""
    while True:
        page = sync(client, since, limit)
        for item in page["changed"]:
            replica[item["task"]["id"]] = item["task"]
        for task_id in page["deleted"]:
            replica.pop(task_id, None)
        since = page["since"]
        if not page["has_more"]:
            return since


def server_state(client: APIClient) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    url: str | None = LIST + "?page_size=200"
    while url:
        body = client.get(url).json()
        state.update({task["id"]: task for task in body["results"]})
        url = body["next"]
    return state


def test_a_first_sync_returns_every_task_oldest_change_first(auth_client, user):
    first = TaskFactory.create(owner=user, title="first")
    second = TaskFactory.create(owner=user, title="second")
    services.task_update(task=first, changes={"title": "first, edited"})

    page = sync(auth_client)

    assert [item["task"]["title"] for item in page["changed"]] == [
        "second",
        "first, edited",
    ]
    detail = auth_client.get(reverse("todos:task-detail", args=[second.pk]))
    assert page["changed"][0] == {"etag": detail["ETag"], "task": detail.json()}
    assert page["deleted"] == []
    assert page["has_more"] is False


def test_a_sync_with_the_token_returns_only_what_changed_since(auth_client, user):
    kept = TaskFactory.create(owner=user)
    edited = TaskFactory.create(owner=user)
    gone = TaskFactory.create(owner=user)
    token = sync(auth_client)["since"]

    services.task_update(task=edited, changes={"title": "edited"})
    services.task_delete(task=gone)
    created = auth_client.post(LIST, {"title": "new"}).json()

    page = sync(auth_client, token)
    assert [item["task"]["id"] for item in page["changed"]] == [
        str(edited.pk),
        created["id"],
    ]
    assert page["deleted"] == [str(gone.pk)]
    assert str(kept.pk) not in {item["task"]["id"] for item in page["changed"]}
    again = sync(auth_client, page["since"])
    assert (again["changed"], again["deleted"], again["has_more"]) == ([], [], False)


def test_pages_follow_each_other_without_repeating_or_skipping(auth_client, user):
    tasks = TaskFactory.create_batch(7, owner=user)
    services.task_delete(task=tasks[2])
    services.task_delete(task=tasks[5])
    seen: list[str] = []
    deleted: list[str] = []
    token = None
    pages = 0
    while True:
        page = sync(auth_client, token, limit=2)
        pages += 1
        assert len(page["changed"]) + len(page["deleted"]) <= 2
        seen += [item["task"]["id"] for item in page["changed"]]
        deleted += page["deleted"]
        token = page["since"]
        if not page["has_more"]:
            break
    assert seen == [str(t.pk) for i, t in enumerate(tasks) if i not in {2, 5}]
    assert deleted == [str(tasks[2].pk), str(tasks[5].pk)]
    assert pages == 4


def test_a_bulk_write_gives_one_sequence_to_many_rows_and_pages_split_it(
    auth_client, user
):
    TaskFactory.create_batch(5, owner=user)
    assert services.tasks_complete(tasks=Task.objects.filter(owner=user)) == 5
    assert len(set(Task.objects.filter(owner=user).values_list("change_seq"))) == 1

    replica: dict[str, dict[str, Any]] = {}
    sync_all(auth_client, replica, limit=2)
    assert replica == server_state(auth_client)
    assert {task["status"] for task in replica.values()} == {"completed"}


def test_a_write_between_two_pages_is_not_missed(auth_client, user):
    tasks = TaskFactory.create_batch(4, owner=user)
    replica: dict[str, dict[str, Any]] = {}
    page = sync(auth_client, limit=2)
    for item in page["changed"]:
        replica[item["task"]["id"]] = item["task"]
    # Between the pages: an edit of a task already sent, of one not yet sent, and
    # a delete of one already sent.
    services.task_update(task=tasks[0], changes={"title": "changed after page 1"})
    services.task_update(task=tasks[3], changes={"title": "changed before page 2"})
    services.task_delete(task=tasks[1])
    sync_all(auth_client, replica, page["since"], limit=2)
    assert replica == server_state(auth_client)
    assert replica[str(tasks[0].pk)]["title"] == "changed after page 1"


def test_other_users_changes_never_appear(auth_client, user, other_user):
    mine = TaskFactory.create(owner=user)
    theirs = TaskFactory.create(owner=other_user)
    services.task_delete(task=TaskFactory.create(owner=other_user))
    services.task_update(task=theirs, changes={"title": "theirs, edited"})

    page = sync(auth_client)
    assert [item["task"]["id"] for item in page["changed"]] == [str(mine.pk)]
    assert page["deleted"] == []


def test_another_users_token_is_refused_like_a_tampered_one(
    auth_client, other_client, user, other_user
):
    TaskFactory.create(owner=other_user)
    theirs = sync(other_client)["since"]
    mine = sync(auth_client)["since"]

    for token in (theirs, mine[:-2] + ("AA" if mine[-2:] != "AA" else "BB"), "junk"):
        response = auth_client.get(CHANGES, {"since": token})
        body = assert_problem(response, status.HTTP_400_BAD_REQUEST, "validation-error")
        assert body["errors"][0]["field"] == "since"


def test_a_forged_position_is_refused(auth_client, user):
    salt = f"todos.changes.token:{user.pk}"
    for payload in ({"s": "1", "i": None}, {"s": 1, "i": "x"}, {"s": -5, "i": None}):
        token = signing.dumps(payload, salt=salt, compress=True)
        response = auth_client.get(CHANGES, {"since": token})
        assert_problem(response, status.HTTP_400_BAD_REQUEST, "validation-error")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"owner": "someone"}, "owner"),
        ({"cursor": "x"}, "cursor"),
    ],
)
def test_bad_parameters_are_a_problem_naming_them(auth_client, params, field):
    response = auth_client.get(CHANGES, params)
    body = assert_problem(response, status.HTTP_400_BAD_REQUEST, "validation-error")
    assert [error["field"] for error in body["errors"]] == [field]


def test_the_feed_needs_credentials(api_client):
    assert_problem(api_client.get(CHANGES), status.HTTP_401_UNAUTHORIZED)


def test_a_token_older_than_the_retention_is_gone(auth_client, user, monkeypatch):
    TaskFactory.create(owner=user)
    token = sync(auth_client)["since"]
    later = timezone.now() + datetime.timedelta(days=30, minutes=1)
    monkeypatch.setattr(
        signing, "time", types.SimpleNamespace(time=lambda: later.timestamp())
    )
    response = auth_client.get(CHANGES, {"since": token})
    assert_problem(response, status.HTTP_410_GONE, "sync-token-expired")
    # Starting over works.
    assert len(sync(auth_client)["changed"]) == 1


def test_a_token_from_before_a_purge_of_tombstones_is_gone(auth_client, user):
    tasks = TaskFactory.create_batch(3, owner=user)
    before_delete = sync(auth_client)["since"]
    services.task_delete(task=tasks[0])
    after_delete = sync(auth_client, before_delete)["since"]
    TaskTombstone.objects.update(
        deleted_at=timezone.now() - datetime.timedelta(days=31)
    )

    call_command("purge_sync_records", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert not TaskTombstone.objects.exists()
    response = auth_client.get(CHANGES, {"since": before_delete})
    assert_problem(response, status.HTTP_410_GONE, "sync-token-expired")
    # A token that had seen the deletion goes on; so does a full sync.
    assert sync(auth_client, after_delete)["changed"] == []
    assert len(sync(auth_client)["changed"]) == 2


def test_the_purge_keeps_tombstones_within_the_retention(user):
    task = TaskFactory.create(owner=user)
    services.task_delete(task=task)
    call_command("purge_sync_records", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert list(TaskTombstone.objects.values_list("task_id", flat=True)) == [task.pk]
    assert ChangeSequence.objects.get(owner=user).pruned_seq == 0


def test_deleting_a_user_removes_their_tombstones_and_counter(user, other_user):
    for owner in (user, other_user):
        services.task_delete(task=TaskFactory.create(owner=owner))
    user_delete(user=user)
    assert list(TaskTombstone.objects.values_list("owner_id", flat=True)) == [
        other_user.pk
    ]
    assert list(ChangeSequence.objects.values_list("owner_id", flat=True)) == [
        other_user.pk
    ]


def test_the_feed_costs_six_queries_whatever_the_history(
    auth_client, user, django_assert_max_num_queries
):
    TaskFactory.create_batch(30, owner=user)
    for n in range(10):
        services.task_list_create(owner=user, name=f"list {n}")
        services.label_create(owner=user, name=f"label {n}")
    services.label_delete(label=services.label_create(owner=user, name="gone"))
    # One to authenticate, the counter, then one range each: tasks, task
    # tombstones, lists, labels, list and label tombstones.
    with django_assert_max_num_queries(7):
        page = sync(auth_client, limit=10)
    with django_assert_max_num_queries(7):
        page = sync(auth_client, page["since"], limit=25)
    assert page["lists"]["changed"]
    assert page["labels"]["changed"]


# --- every write path stamps the sequence ---------------------------------------------


def _seq(task: Task) -> int:
    return Task.objects.values_list("change_seq", flat=True).get(pk=task.pk)


def _last(user: User) -> int:
    return ChangeSequence.objects.get(owner=user).last_seq


def test_every_write_path_moves_the_owners_sequence(user):
    task = TaskFactory.create(owner=user)
    assert _seq(task) == _last(user) == 1

    steps = [
        lambda: services.task_update(task=task, changes={"title": "a"}),
        lambda: services.task_complete(task=Task.objects.get(pk=task.pk)),
        lambda: services.task_reopen(task=Task.objects.get(pk=task.pk)),
        lambda: services.tasks_complete(tasks=Task.objects.filter(pk=task.pk)),
        lambda: services.tasks_reopen(tasks=Task.objects.filter(pk=task.pk)),
        lambda: Task.objects.filter(pk=task.pk).update(title="b"),
        lambda: Task.objects.get(pk=task.pk).save(),
        lambda: Task.objects.get(pk=task.pk).save(update_fields=["title"]),
    ]
    for number, step in enumerate(steps, start=2):
        step()
        assert _seq(task) == _last(user) == number


def test_bulk_create_stamps_each_owner_once(user, other_user):
    created = Task.objects.bulk_create(
        [
            Task(owner=user, title="a"),
            Task(owner=user, title="b"),
            Task(owner=other_user, title="c"),
        ]
    )
    assert [t.change_seq for t in created] == [1, 1, 1]
    assert (_last(user), _last(other_user)) == (1, 1)


def test_a_multi_owner_update_stamps_each_owner_with_their_own_sequence(
    user, other_user
):
    TaskFactory.create_batch(2, owner=user)
    TaskFactory.create(owner=other_user)
    TaskFactory.create(owner=other_user)
    Task.objects.all().update(priority=Task.Priority.HIGH)
    assert _last(user) == 3
    assert _last(other_user) == 3
    assert set(Task.objects.values_list("owner_id", "change_seq")) == {
        (user.pk, 3),
        (other_user.pk, 3),
    }


def test_every_delete_path_leaves_a_tombstone(user, other_user):
    by_service, by_model, by_queryset, theirs = (
        TaskFactory.create(owner=user),
        TaskFactory.create(owner=user),
        TaskFactory.create(owner=user),
        TaskFactory.create(owner=other_user),
    )
    services.task_delete(task=by_service)
    assert Task.objects.get(pk=by_model.pk).delete()[0] == 1
    assert Task.objects.filter(pk__in=[by_queryset.pk, theirs.pk]).delete()[0] == 2
    assert set(TaskTombstone.objects.values_list("task_id", "owner_id")) == {
        (by_service.pk, user.pk),
        (by_model.pk, user.pk),
        (by_queryset.pk, user.pk),
        (theirs.pk, other_user.pk),
    }
    stamps = sorted(
        TaskTombstone.objects.filter(owner=user).values_list("change_seq", flat=True)
    )
    assert stamps == [4, 5, 6]


def test_admin_actions_and_deletes_stamp_the_sequence(user):
    admin = TaskAdmin(Task, site)
    request = RequestFactory().post("/")
    request._messages = types.SimpleNamespace(add=lambda *a, **k: None)  # type: ignore[attr-defined]
    tasks = TaskFactory.create_batch(2, owner=user)
    admin.mark_completed(request, Task.objects.filter(owner=user))
    assert _last(user) == 3
    assert set(Task.objects.values_list("change_seq", flat=True)) == {3}
    admin.delete_queryset(request, Task.objects.filter(pk=tasks[0].pk))
    assert TaskTombstone.objects.get().task_id == tasks[0].pk


def test_bulk_update_stamps_each_owner_once(user, other_user):
    mine = TaskFactory.create_batch(2, owner=user)
    theirs = TaskFactory.create(owner=other_user)
    for task in [*mine, theirs]:
        task.title = "bulk"
    assert Task.objects.bulk_update([*mine, theirs], ["title"]) == 3
    assert (_last(user), _last(other_user)) == (3, 2)
    assert set(Task.objects.values_list("owner_id", "change_seq", "title")) == {
        (user.pk, 3, "bulk"),
        (other_user.pk, 2, "bulk"),
    }


def test_claiming_a_sequence_outside_a_transaction_is_refused(user):
    # The test itself runs in a transaction: leave it for the check.
    connection = transaction.get_connection()
    atomic = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(transaction.TransactionManagementError):
            claim_change_seq(user.pk)
    finally:
        connection.in_atomic_block = atomic


def test_rows_loaded_around_the_orm_sync_first(auth_client, user):
    task = TaskFactory.create(owner=user)
    # As the seed's COPY leaves them: sequence 0, no counter row.
    Task.objects.filter(pk=task.pk).update(change_seq=0)
    ChangeSequence.objects.all().delete()
    page = sync(auth_client)
    assert [item["task"]["id"] for item in page["changed"]] == [str(task.pk)]
    assert sync(auth_client, page["since"])["changed"] == []


def test_a_fresh_user_syncs_nothing(auth_client):
    page = sync(auth_client)
    assert (page["changed"], page["deleted"], page["has_more"]) == ([], [], False)
