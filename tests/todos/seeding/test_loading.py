"""Loading the rows: PostgreSQL's COPY path, and the label links on both paths."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from tests.factories import TaskFactory, UserFactory
from tests.support.seeding import run_seed, seed_tasks
from todos.ids import uuid7
from todos.models import Label, Task, TaskLabel, TaskList
from todos.seeding import Progress, copy_tasks
from todos.seeding.loading import bulk_create_links, copy_links

pytestmark = pytest.mark.django_db


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_postgresql_streams_the_tasks_with_copy_instead_of_inserts():
    with CaptureQueriesContext(connection) as queries:
        run_seed(users=3, tasks_per_user=40, batch_size=25)

    assert seed_tasks().count() == 120
    inserts = [q["sql"] for q in queries if 'INTO "todos_task"' in q["sql"]]
    assert inserts == []


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_copy_round_trips_special_characters_and_timestamps():
    owner = UserFactory.create()
    text = "tab\there, back\\slash, \\N, line\nbreak, cr\r, ünïcode ✓"
    due, done, created, updated = (
        1_700_000_000,
        1_700_000_123,
        1_690_000_000,
        1_700_000_200,
    )
    row = (
        str(uuid7()),
        str(owner.pk),
        "Title with\ttab",
        text,
        Task.Status.COMPLETED.value,
        Task.Priority.URGENT.value,
        due,
        done,
        created,
        updated,
    )

    copy_tasks(iter([row]), batch_size=10, progress=Progress(None, 1))

    task = Task.objects.get(owner=owner)
    assert (task.title, task.description) == ("Title with\ttab", text)
    assert (task.status, task.priority, task.version) == ("completed", 40, 1)
    utc = datetime.UTC
    assert task.due_at == datetime.datetime.fromtimestamp(due, tz=utc)
    assert task.completed_at == datetime.datetime.fromtimestamp(done, tz=utc)
    assert task.created_at == datetime.datetime.fromtimestamp(created, tz=utc)
    assert task.updated_at == datetime.datetime.fromtimestamp(updated, tz=utc)


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_postgresql_copies_the_list_ids_and_the_label_links_too():
    with CaptureQueriesContext(connection) as queries:
        run_seed(users=3, tasks_per_user=60, batch_size=25)

    sql = [q["sql"] for q in queries]
    assert not [q for q in sql if 'INTO "todos_tasklabel"' in q]
    tasks = seed_tasks()
    assert tasks.filter(list__isnull=False).exists()
    links = TaskLabel.objects.filter(task__in=tasks)
    assert links.exists()
    assert not links.exclude(label__owner=F("task__owner")).exists()


@pytest.mark.postgres(reason="the composite same-owner keys are PostgreSQL's")
def test_copy_refuses_a_task_in_another_users_list():
    owner, stranger = UserFactory.create(), UserFactory.create()
    foreign = TaskList.objects.create(owner=stranger, name="Work", position=1)
    row = (
        str(uuid7()),
        str(owner.pk),
        "Title",
        "",
        Task.Status.PENDING.value,
        Task.Priority.NORMAL.value,
        None,
        None,
        1_690_000_000,
        1_690_000_000,
        str(foreign.pk),
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_tasks(iter([row]), batch_size=10, progress=Progress(None, 1))
    assert not Task.objects.filter(owner=owner).exists()


@pytest.mark.postgres(reason="the composite same-owner keys are PostgreSQL's")
def test_copy_links_refuses_another_users_label():
    task = TaskFactory.create()
    foreign = Label.objects.create(owner=UserFactory.create(), name="urgent")

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_links([(str(task.owner_id), str(task.pk), str(foreign.pk))], batch_size=5)
    assert not TaskLabel.objects.exists()


def test_bulk_create_links_labels_the_tasks():
    task = TaskFactory.create()
    label = Label.objects.create(owner=task.owner, name="urgent")

    bulk_create_links([(str(task.owner_id), str(task.pk), str(label.pk))], batch_size=5)

    assert list(task.labels.all()) == [label]
