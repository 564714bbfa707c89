"""The changes feed carries lists and labels: every write path, replicas, isolation."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import TaskFactory
from tests.todos.test_changes import sync
from todos import services
from todos.changes import tombstones_purge
from todos.models import (
    ChangeSequence,
    Label,
    NamedTombstone,
    Task,
    TaskLabel,
    TaskList,
)

pytestmark = pytest.mark.django_db

Replica = dict[tuple[str, str], dict[str, Any]]


def sync_all(
    client: APIClient, replica: Replica, since: str | None = None, limit: int = 2
) -> str:
    """Apply every page to ``replica`` (keyed by kind and id); return the token."""
    while True:
        page = sync(client, since, limit)
        parts = {"task": page, "list": page["lists"], "label": page["labels"]}
        for kind, part in parts.items():
            for item in part["changed"]:
                replica[kind, item[kind]["id"]] = item[kind]
            for pk in part["deleted"]:
                replica.pop((kind, pk), None)
        since = page["since"]
        if not page["has_more"]:
            return since


def server_state(client: APIClient, user: User) -> Replica:
    state: Replica = {}
    routes = {"task": "todos:task-detail", "list": "todos:list-detail"}
    routes["label"] = "todos:label-detail"
    models: dict[str, Any] = {"task": Task, "list": TaskList, "label": Label}
    for kind, route in routes.items():
        for pk in models[kind].objects.filter(owner=user).values_list("pk", flat=True):
            state[kind, str(pk)] = client.get(reverse(route, args=[pk])).json()
    return state


def _seq(row: Any) -> int:
    return type(row).objects.values_list("change_seq", flat=True).get(pk=row.pk)


def _last(user: User) -> int:
    return ChangeSequence.objects.get(owner=user).last_seq


def test_list_and_label_creates_edits_moves_and_deletes_are_in_the_feed(
    auth_client, user
):
    inbox = services.task_list_create(owner=user, name="Inbox-ish", color="red")
    work = services.task_list_create(owner=user, name="Work")
    urgent = services.label_create(owner=user, name="urgent")
    page = sync(auth_client)
    assert [i["list"]["name"] for i in page["lists"]["changed"]] == [
        "Inbox-ish",
        "Work",
    ]
    assert [i["label"]["name"] for i in page["labels"]["changed"]] == ["urgent"]
    assert page["lists"]["changed"][0]["etag"] == f'"{inbox.pk}.1"'

    services.named_update(obj=work, changes={"name": "Job", "color": "blue"})
    services.task_list_move(task_list=work, to="top")
    services.named_update(obj=urgent, changes={"color": "green"})
    page = sync(auth_client, page["since"])
    [moved] = page["lists"]["changed"]
    assert moved["list"]["name"] == "Job"
    assert moved["list"]["color"] == "blue"
    assert moved["etag"] == f'"{work.pk}.3"'
    assert page["labels"]["changed"][0]["label"]["color"] == "green"
    assert page["changed"] == []

    services.task_list_delete(
        task_list=TaskList.objects.get(pk=inbox.pk), tasks="move_to_inbox"
    )
    services.label_delete(label=Label.objects.get(pk=urgent.pk))
    page = sync(auth_client, page["since"])
    assert page["lists"] == {"changed": [], "deleted": [str(inbox.pk)]}
    assert page["labels"] == {"changed": [], "deleted": [str(urgent.pk)]}
    assert not page["has_more"]


def test_deleting_a_label_or_a_list_stamps_the_tasks_it_changes(auth_client, user):
    task_list = services.task_list_create(owner=user, name="L")
    label = services.label_create(owner=user, name="x")
    filed = TaskFactory.create(owner=user, list=task_list)
    labelled = TaskFactory.create(owner=user)
    TaskLabel.objects.create(owner=user, task=labelled, label=label)
    since = sync(auth_client)["since"]

    services.task_list_delete(task_list=task_list, tasks="move_to_inbox")
    # Through the QuerySet, as the admin's bulk action does: no service involved.
    Label.objects.filter(pk=label.pk).delete()

    page = sync(auth_client, since)
    changed = {item["task"]["id"]: item["task"] for item in page["changed"]}
    assert changed[str(filed.pk)]["list"] is None
    assert changed[str(labelled.pk)]["labels"] == []
    assert page["lists"]["deleted"] == [str(task_list.pk)]
    assert page["labels"]["deleted"] == [str(label.pk)]


def test_every_write_path_of_a_list_or_label_moves_the_owners_sequence(user):
    task_list = services.task_list_create(owner=user, name="L")
    label = services.label_create(owner=user, name="x")
    assert (_seq(task_list), _seq(label)) == (1, 2)
    services.task_list_create(owner=user, name="below")  # so a move moves
    steps = [
        (
            task_list,
            lambda: services.named_update(obj=task_list, changes={"name": "L2"}),
        ),
        (task_list, lambda: services.task_list_move(task_list=task_list, to="bottom")),
        (task_list, lambda: TaskList.objects.filter(pk=task_list.pk).update(name="N")),
        (task_list, lambda: TaskList.objects.get(pk=task_list.pk).save()),
        (
            task_list,
            lambda: TaskList.objects.bulk_update(
                [TaskList.objects.get(pk=task_list.pk)], ["name"]
            ),
        ),
        (label, lambda: services.named_update(obj=label, changes={"color": "red"})),
        (label, lambda: Label.objects.filter(pk=label.pk).update(name="y")),
        (label, lambda: Label.objects.get(pk=label.pk).save()),
    ]
    for row, step in steps:
        before = _last(user)
        step()
        assert _seq(row) == _last(user) > before

    made = Label.objects.bulk_create([Label(owner=user, name="bulk")])
    assert _seq(made[0]) == _last(user)

    before = _last(user)
    Label.objects.get(pk=label.pk).delete()
    tomb = NamedTombstone.objects.get(pk=label.pk)
    assert tomb.kind == NamedTombstone.Kind.LABEL
    assert tomb.change_seq == _last(user) > before


def test_the_admin_stamps_and_tombstones_lists_and_labels(user, admin_user):
    label = services.label_create(owner=user, name="x")
    request = RequestFactory().post("/")
    request.user = admin_user
    model_admin = site._registry[Label]
    label.name = "renamed by staff"
    before = _last(user)
    model_admin.save_model(request, label, form=None, change=True)
    assert _seq(label) == _last(user) > before

    model_admin.delete_queryset(request, Label.objects.filter(pk=label.pk))
    assert NamedTombstone.objects.get(pk=label.pk).change_seq == _last(user)


def test_a_replica_of_lists_and_labels_equals_the_server(auth_client, user):
    replica: Replica = {}
    lists = [services.task_list_create(owner=user, name=f"list {n}") for n in range(4)]
    labels = [services.label_create(owner=user, name=f"label {n}") for n in range(3)]
    tasks = TaskFactory.create_batch(3, owner=user, list=lists[0])
    since = sync_all(auth_client, replica)
    assert replica == server_state(auth_client, user)

    services.task_list_move(task_list=lists[3], before=lists[0].pk)
    services.named_update(obj=labels[1], changes={"name": "renamed"})
    auth_client.patch(
        reverse("todos:task-detail", args=[tasks[1].pk]),
        {"labels": [str(labels[0].pk), str(labels[2].pk)]},
        format="json",
    )
    services.task_list_delete(task_list=lists[0], tasks="delete")
    services.label_delete(label=labels[2])
    services.task_list_create(owner=user, name="late")
    since = sync_all(auth_client, replica, since)
    assert replica == server_state(auth_client, user)
    assert ("list", str(lists[0].pk)) not in replica
    assert sync(auth_client, since)["lists"] == {"changed": [], "deleted": []}


def test_other_users_lists_and_labels_never_appear(auth_client, user, other_user):
    theirs = services.task_list_create(owner=other_user, name="theirs")
    their_label = services.label_create(owner=other_user, name="theirs")
    services.named_update(obj=theirs, changes={"name": "theirs 2"})
    services.label_delete(label=their_label)
    mine = services.label_create(owner=user, name="mine")

    page = sync(auth_client)

    assert page["lists"] == {"changed": [], "deleted": []}
    assert [i["label"]["id"] for i in page["labels"]["changed"]] == [str(mine.pk)]
    assert page["labels"]["deleted"] == []


def test_purging_list_and_label_tombstones_expires_older_tokens(auth_client, user):
    label = services.label_create(owner=user, name="x")
    since = sync(auth_client)["since"]
    services.label_delete(label=label)
    assert tombstones_purge(before=timezone.now() + datetime.timedelta(seconds=1)) == 1
    assert not NamedTombstone.objects.exists()
    response = auth_client.get(reverse("todos:task-changes"), {"since": since})
    assert response.status_code == 410
    # A fresh sync still works, and the command purges them too.
    assert sync(auth_client)["labels"]["deleted"] == []
    call_command("purge_sync_records", stdout=open("/dev/null", "w"))  # noqa: SIM115
