"""api.postgresql: Django's backend with psycopg's compiled timestamptz loader."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.postgres import types
from psycopg.pq import Format

from tests.factories import TaskFactory
from todos.models import Task

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="a PostgreSQL backend"
    ),
]

TIMESTAMPTZ = types["timestamptz"].oid
SQL = (
    "SELECT t.created_at, t.updated_at, t.due_at, u.date_joined, "
    "'2024-02-29 23:59:59.000001+00'::timestamptz, "
    "'1999-12-31 19:00:00-05'::timestamptz "
    "FROM todos_task t JOIN accounts_user u ON u.id = t.owner_id WHERE t.id = %s"
)


def test_the_connection_reads_timestamptz_with_the_compiled_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
    assert loader is not None
    assert loader.__module__.startswith("psycopg_binary"), loader


def test_values_equal_what_djangos_own_loader_reads():
    task = TaskFactory.create(
        due_at=datetime.datetime(2031, 1, 31, 17, tzinfo=datetime.UTC)
    )
    with connection.cursor() as cursor:
        cursor.execute(SQL, [task.pk])
        compiled = cursor.fetchone()
    with connection.cursor() as cursor:
        # Django's stock loader, pinned to UTC, on this cursor only.
        register_tzloader(datetime.UTC, cursor.cursor)
        cursor.execute(SQL, [task.pk])
        stock = cursor.fetchone()
    assert compiled == stock
    for ours, theirs in zip(compiled, stock, strict=True):
        assert ours.utcoffset() == datetime.timedelta(0)
        assert ours.isoformat() == theirs.isoformat()


def test_the_orm_reads_aware_utc_datetimes():
    task = TaskFactory.create()
    again = Task.objects.get(pk=task.pk)
    assert again.created_at == task.created_at
    assert again.created_at.utcoffset() == datetime.timedelta(0)
    assert again.owner.date_joined == task.owner.date_joined
