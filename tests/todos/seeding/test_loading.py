"""Loading the rows: PostgreSQL's COPY path."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory
from tests.support.seeding import run_seed, seed_tasks
from todos.ids import uuid7
from todos.models import Task
from todos.seeding import Progress, copy_tasks

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
