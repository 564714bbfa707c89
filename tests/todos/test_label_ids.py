"""A task's label ids, kept in ``todos_task.label_ids`` by PostgreSQL's triggers
(migration 0009) and read from there (``todos.expressions.TaskLabelIds``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from tests.factories import TaskFactory
from todos import services
from todos.models import Label, Task, TaskLabel

pytestmark = pytest.mark.postgres(
    reason="the column and its triggers exist on PostgreSQL only (SQLite reads the "
    "links through a subquery)"
)

_TRUE_TEXT = (
    "array_to_string(ARRAY(SELECT l.label_id FROM todos_tasklabel AS l "
    "WHERE l.task_id = t.id ORDER BY l.label_id), ',')"
)


def _stored(task: Any) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT label_ids FROM todos_task WHERE id = %s", [task.pk])
        return str(cursor.fetchone()[0])


def _out_of_step() -> list[tuple[Any, str, str]]:
    """Every task whose stored text is not what its links make."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, label_ids, {_TRUE_TEXT} FROM todos_task AS t "
            f"WHERE label_ids IS DISTINCT FROM {_TRUE_TEXT}"
        )
        return list(cursor.fetchall())


def _joined(*labels: Label) -> str:
    return ",".join(sorted(str(label.pk) for label in labels))


@pytest.fixture
def labels(user) -> list[Label]:
    return [Label.objects.create(owner=user, name=f"label {n}") for n in range(4)]


@pytest.mark.django_db
def test_every_way_links_change_keeps_the_text(user, labels):
    a, b, c, d = labels
    task, other = TaskFactory.create_batch(2, owner=user)
    assert (_stored(task), _stored(other)) == ("", "")

    # The services' one-statement create and their locked update.
    made = services.task_create(owner=user, title="t", labels=[b.pk, a.pk])
    assert _stored(made) == _joined(a, b)
    services.task_update(task=made, changes={"labels": [c.pk]})
    assert _stored(made) == _joined(c)

    # The ORM: several links in one statement, a link moved, links deleted.
    TaskLabel.objects.bulk_create(
        TaskLabel(owner=user, task=t, label=label)
        for t in (task, other)
        for label in (a, b, c)
    )
    assert (_stored(task), _stored(other)) == (_joined(a, b, c),) * 2
    TaskLabel.objects.filter(task=task, label=c).update(label=d)
    assert _stored(task) == _joined(a, b, d)
    TaskLabel.objects.filter(task=other, label=a).update(task=made)
    assert (_stored(other), _stored(made)) == (_joined(b, c), _joined(a, c))
    TaskLabel.objects.filter(label=b).delete()
    assert (_stored(task), _stored(other)) == (_joined(a, d), _joined(c))

    # A label deleted (its links go by cascade), and raw SQL's cascade too.
    Label.objects.filter(pk=d.pk).delete()
    assert _stored(task) == _joined(a)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM todos_label WHERE id = %s", [c.pk])
    assert (_stored(other), _stored(made)) == ("", _joined(a))
    assert _out_of_step() == []


@pytest.mark.django_db
def test_a_write_of_the_column_itself_gets_the_true_text(user, labels):
    a, b, *_ = labels
    task = TaskFactory.create(owner=user)
    TaskLabel.objects.create(owner=user, task=task, label=a)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE todos_task SET label_ids = 'stale' WHERE id = %s", [task.pk]
        )
    assert _stored(task) == _joined(a)

    # A model read before a link changed writes every field back, the text never.
    before = Task.objects.get(pk=task.pk)
    TaskLabel.objects.create(owner=user, task=task, label=b)
    before.title = "renamed"
    before.save()
    assert _stored(task) == _joined(a, b)
    assert _out_of_step() == []


@pytest.mark.django_db
def test_a_new_task_starts_empty_whatever_it_is_given(user):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO todos_task (id, owner_id, title, label_ids) "
            "VALUES (gen_random_uuid(), %s, 'raw', 'made up') RETURNING label_ids",
            [user.pk],
        )
        assert cursor.fetchone()[0] == ""


@pytest.mark.django_db(transaction=True)  # TRUNCATE: no foreign key check pending
def test_truncating_the_links_empties_every_text(user, labels):
    task = TaskFactory.create(owner=user)
    TaskLabel.objects.create(owner=user, task=task, label=labels[0])
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE todos_tasklabel")
    assert _stored(task) == ""


@pytest.mark.django_db(transaction=True)  # ALTER TABLE: no foreign key check pending
def test_the_list_and_the_task_read_the_stored_text(user, labels, auth_client):
    task = TaskFactory.create(owner=user)
    TaskLabel.objects.create(owner=user, task=task, label=labels[0])
    # The task's trigger switched off a moment, to tell the column from the links:
    # the API answers what the column holds.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE todos_task DISABLE TRIGGER todos_task_label_ids")
        try:
            cursor.execute(
                "UPDATE todos_task SET label_ids = %s WHERE id = %s",
                [_joined(*labels[1:3]), task.pk],
            )
        finally:
            cursor.execute("ALTER TABLE todos_task ENABLE TRIGGER todos_task_label_ids")

    page = auth_client.get(reverse("todos:task-list")).json()
    detail = auth_client.get(reverse("todos:task-detail", args=[task.pk])).json()

    assert page["results"][0]["labels"] == sorted(str(x.pk) for x in labels[1:3])
    assert detail["labels"] == page["results"][0]["labels"]


@pytest.mark.django_db(transaction=True)
def test_two_transactions_adding_links_to_one_task_both_count(user, labels):
    """The second writer's trigger waits for the first's lock on the task, then
    reads the links afresh: its text holds both links, not only its own."""
    task = TaskFactory.create(owner=user)
    first_linked, first_go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                TaskLabel.objects.create(owner=user, task=task, label=labels[0])
                TaskLabel.objects.filter(task=task, label=labels[2]).delete()
                first_linked.set()
                first_go.wait(10)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_linked.wait(10)
            with transaction.atomic():
                TaskLabel.objects.create(owner=user, task=task, label=labels[1])
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    TaskLabel.objects.create(owner=user, task=task, label=labels[2])
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_linked.wait(10)
    time.sleep(0.3)  # the second writer reaches the task's lock and waits there
    first_go.set()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _stored(task) == _joined(labels[0], labels[1])
    assert _out_of_step() == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_column_and_goes_back(user, labels):
    task = TaskFactory.create(owner=user)
    call_command("migrate", "todos", "0008", verbosity=0)
    try:
        TaskLabel.objects.create(owner=user, task=task, label=labels[1])
        TaskLabel.objects.create(owner=user, task=task, label=labels[0])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'todos_task' AND column_name = 'label_ids'"
            )
            assert cursor.fetchone()[0] == 0
    finally:
        call_command("migrate", "todos", verbosity=0)
    assert _stored(task) == _joined(labels[0], labels[1])
    assert _out_of_step() == []
