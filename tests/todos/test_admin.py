"""The task admin: list, filters, search, owner autocomplete and actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from todos.models import Label, Task, TaskLabel, TaskList

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:todos_task_changelist"
# The label inline's management form, with no label rows.
NO_LABELS = {
    "label_links-TOTAL_FORMS": "0",
    "label_links-INITIAL_FORMS": "0",
}


@pytest.fixture
def staff_client(client: Client) -> Client:
    admin = User.objects.create_superuser("admin@example.com", "admin-pass-123")
    client.force_login(admin)
    return client


def _changelist_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_task_changelist_shows_the_columns_without_n_plus_one(staff_client):
    TaskFactory.create_batch(3)
    few = _changelist_queries(staff_client)
    TaskFactory.create_batch(30)
    many = _changelist_queries(staff_client)

    assert many == few
    response = staff_client.get(reverse(CHANGELIST))
    for header in (b"Title", b"Owner", b"Status", b"Priority", b"Due", b"Updated at"):
        assert header in response.content


def test_task_changelist_filters_by_status_priority_and_due_date(staff_client):
    TaskFactory.create(
        title="finished-one", status="completed", completed_at=timezone.now()
    )
    TaskFactory.create(title="urgent-one", priority=Task.Priority.URGENT)
    TaskFactory.create(title="due-today", due_at=timezone.now())
    url = reverse(CHANGELIST)

    by_status = staff_client.get(url, {"status__exact": "completed"}).content
    by_priority = staff_client.get(url, {"priority__exact": "40"}).content
    by_due = staff_client.get(url, {"due_at__isnull": "False"}).content

    assert b"finished-one" in by_status
    assert b"urgent-one" not in by_status
    assert b"urgent-one" in by_priority
    assert b"finished-one" not in by_priority
    assert b"due-today" in by_due
    assert b"urgent-one" not in by_due


def test_task_changelist_searches_title_and_owner_email(staff_client):
    owner = UserFactory.create(email="needle@example.com")
    TaskFactory.create(owner=owner, title="owned by needle")
    TaskFactory.create(title="haystack item")
    url = reverse(CHANGELIST)

    by_email = staff_client.get(url, {"q": "needle@"}).content
    by_title = staff_client.get(url, {"q": "haystack"}).content

    assert b"owned by needle" in by_email
    assert b"haystack item" not in by_email
    assert b"haystack item" in by_title
    assert b"owned by needle" not in by_title


def test_task_owner_is_chosen_by_autocomplete(staff_client):
    UserFactory.create(email="pickme@example.com")
    add_page = staff_client.get(reverse("admin:todos_task_add"))
    assert add_page.status_code == 200
    assert b"admin-autocomplete" in add_page.content

    response = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "pickme",
            "app_label": "todos",
            "model_name": "task",
            "field_name": "owner",
        },
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["pickme@example.com"]


def test_task_add_and_change_forms_keep_completed_at_consistent(staff_client):
    owner = UserFactory.create()
    response = staff_client.post(
        reverse("admin:todos_task_add"),
        {
            "owner": owner.pk,
            "title": "made in admin",
            "description": "",
            "status": "completed",
            "priority": "30",
            **NO_LABELS,
        },
    )
    assert response.status_code == 302
    task = Task.objects.get(title="made in admin")
    assert task.completed_at is not None

    response = staff_client.post(
        reverse("admin:todos_task_change", args=[task.pk]),
        {
            "owner": owner.pk,
            "title": "made in admin",
            "description": "",
            "status": "pending",
            "priority": "30",
            **NO_LABELS,
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "pending"
    assert task.completed_at is None
    assert task.version == 2


def test_mark_completed_and_reopen_actions_keep_completed_at_consistent(staff_client):
    tasks = TaskFactory.create_batch(2)
    untouched = TaskFactory.create()
    ids = [str(t.pk) for t in tasks]
    url = reverse(CHANGELIST)

    response = staff_client.post(
        url, {"action": "mark_completed", "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200
    assert b"2 task(s) marked completed." in response.content
    done = Task.objects.filter(pk__in=ids)
    assert {t.status for t in done} == {"completed"}
    assert all(t.completed_at is not None for t in done)
    untouched.refresh_from_db()
    assert untouched.status == "pending"

    staff_client.post(url, {"action": "reopen", "_selected_action": ids})
    reopened = Task.objects.filter(pk__in=ids)
    assert {t.status for t in reopened} == {"pending"}
    assert all(t.completed_at is None for t in reopened)
    assert all(t.version == 3 for t in reopened)


# --- lists and labels ----------------------------------------------------------------


def _count(client: Client, name: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(name))
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", ["tasklist", "label"])
def test_list_and_label_changelists_count_tasks_without_n_plus_one(staff_client, model):
    name = f"admin:todos_{model}_changelist"

    def make(n: int) -> None:
        for _ in range(n):
            owner = UserFactory.create()
            if model == "tasklist":
                parent = TaskList.objects.create(owner=owner, name="x", position=1)
                TaskFactory.create_batch(2, owner=owner, list=parent)
            else:
                label = Label.objects.create(owner=owner, name="x")
                for task in TaskFactory.create_batch(2, owner=owner):
                    TaskLabel.objects.create(owner=owner, task=task, label=label)

    make(2)
    few = _count(staff_client, name)
    make(20)

    assert _count(staff_client, name) == few
    response = staff_client.get(reverse(name), {"q": "x"})
    assert response.content.count(b'<td class="field-task_count">2</td>') == 22


def test_a_task_cannot_be_put_into_another_users_list_in_the_admin(staff_client):
    owner, other = UserFactory.create(), UserFactory.create()
    theirs = TaskList.objects.create(owner=other, name="theirs", position=1)
    task = TaskFactory.create(owner=owner)

    response = staff_client.post(
        reverse("admin:todos_task_change", args=[task.pk]),
        {
            "owner": owner.pk,
            "title": "t",
            "description": "",
            "status": "pending",
            "priority": "20",
            "list": theirs.pk,
            **NO_LABELS,
        },
    )

    assert response.status_code == 200
    assert b"This list belongs to another user." in response.content
    task.refresh_from_db()
    assert task.list_id is None


def test_the_admin_labels_a_task_with_its_owners_labels_only(staff_client):
    owner, other = UserFactory.create(), UserFactory.create()
    mine = Label.objects.create(owner=owner, name="mine")
    theirs = Label.objects.create(owner=other, name="theirs")
    task = TaskFactory.create(owner=owner)
    url = reverse("admin:todos_task_change", args=[task.pk])

    def post(label: Label):
        return staff_client.post(
            url,
            {
                "owner": owner.pk,
                "title": "t",
                "description": "",
                "status": "pending",
                "priority": "20",
                "label_links-TOTAL_FORMS": "1",
                "label_links-INITIAL_FORMS": "0",
                "label_links-0-label": label.pk,
            },
        )

    refused = post(theirs)
    assert refused.status_code == 200
    assert b"This label belongs to another user." in refused.content
    assert not TaskLabel.objects.exists()

    assert post(mine).status_code == 302
    link = TaskLabel.objects.get()
    assert (link.owner_id, link.task_id, link.label_id) == (owner.pk, task.pk, mine.pk)


def test_a_list_with_tasks_cannot_be_deleted_in_the_admin(staff_client):
    owner = UserFactory.create()
    full = TaskList.objects.create(owner=owner, name="full", position=1)
    empty = TaskList.objects.create(owner=owner, name="empty", position=2)
    TaskFactory.create(owner=owner, list=full)

    refused = staff_client.post(
        reverse("admin:todos_tasklist_delete", args=[full.pk]), {"post": "yes"}
    )
    deleted = staff_client.post(
        reverse("admin:todos_tasklist_delete", args=[empty.pk]), {"post": "yes"}
    )

    assert refused.status_code == 403
    assert deleted.status_code == 302
    assert list(TaskList.objects.all()) == [full]


def test_a_list_added_in_the_admin_goes_after_the_owners_others(staff_client):
    owner = UserFactory.create()
    TaskList.objects.create(owner=owner, name="first", position=5)

    response = staff_client.post(
        reverse("admin:todos_tasklist_add"),
        {"owner": owner.pk, "name": "second", "color": ""},
    )

    assert response.status_code == 302
    assert TaskList.objects.get(name="second").position > 5
