"""Migrations: complete, and reversible on PostgreSQL."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _task_fk_rule() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT confdeltype FROM pg_constraint "
            "WHERE conrelid = 'todos_task'::regclass AND contype = 'f' "
            "AND confrelid = 'accounts_user'::regclass"
        )
        return "".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres(reason="the round trip is checked against the production engine")
@pytest.mark.django_db(transaction=True)
def test_migrations_round_trip_to_zero_and_back():
    assert _task_fk_rule() == "c"  # ON DELETE CASCADE

    call_command("migrate", "todos", "zero", verbosity=0)
    assert "todos_task" not in _tables()

    call_command("migrate", "accounts", "zero", verbosity=0)
    assert "accounts_user" not in _tables()

    call_command("migrate", verbosity=0)
    assert {"accounts_user", "todos_task"} <= _tables()
    assert _task_fk_rule() == "c"


@pytest.mark.postgres(reason="the cascading foreign key only exists on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_the_cascade_migration_reverses_to_a_plain_foreign_key():
    call_command("migrate", "todos", "0001", verbosity=0)
    try:
        assert _task_fk_rule() == "a"  # NO ACTION, as Django creates it
    finally:
        call_command("migrate", verbosity=0)
    assert _task_fk_rule() == "c"


def _same_owner_keys() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conname LIKE %s",
            ["%same_owner_fk"],
        )
        return {row[0] for row in cursor.fetchall()}


SAME_OWNER_KEYS = {
    "todos_task_list_same_owner_fk",
    "todos_tasklabel_task_same_owner_fk",
    "todos_tasklabel_label_same_owner_fk",
}


@pytest.mark.postgres(reason="the composite foreign keys exist on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_the_lists_and_labels_migrations_reverse_and_reapply_their_keys():
    assert _same_owner_keys() == SAME_OWNER_KEYS
    try:
        call_command("migrate", "todos", "0003", verbosity=0)
        assert _same_owner_keys() == set()
        assert "todos_tasklist" not in _tables()
    finally:
        call_command("migrate", verbosity=0)
    assert _same_owner_keys() == SAME_OWNER_KEYS
    assert _task_fk_rule() == "c"
