"""A big load on PostgreSQL: indexes and the owner key dropped, then rebuilt."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import TaskFactory, UserFactory
from tests.support.seeding import run_seed, seed_tasks
from todos.models import Task
from todos.seeding import indexes, runner

pytestmark = pytest.mark.django_db


def _task_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'todos_task'"
        )
        return dict(cursor.fetchall())


def _task_foreign_keys() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(indexes.FOREIGN_KEYS_SQL, ["todos_task"])
        return dict(cursor.fetchall())


@pytest.fixture
def small_bulk_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads from 50 tasks on count as big: they drop and rebuild the indexes."""
    monkeypatch.setattr(runner, "BULK_INDEX_THRESHOLD", 50)
    with connection.cursor() as cursor:
        # The size estimate the seed compares with; earlier tests may have left it high.
        cursor.execute("ANALYZE todos_task")


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.usefixtures("small_bulk_threshold")
def test_a_big_load_drops_the_indexes_and_builds_the_same_ones_after():
    before, keys = _task_indexes(), _task_foreign_keys()
    with CaptureQueriesContext(connection) as queries:
        run_seed(users=2, tasks_per_user=40)

    assert seed_tasks().count() == 80
    assert _task_indexes() == before
    assert _task_foreign_keys() == keys
    dropped = [q["sql"] for q in queries if q["sql"].startswith("DROP INDEX")]
    # The model's indexes; the primary key and the unique constraints stay.
    assert len(dropped) == len(Task._meta.indexes)
    assert [q for q in queries if "DROP CONSTRAINT" in q["sql"]]


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_a_load_smaller_than_the_threshold_keeps_the_indexes(monkeypatch):
    with CaptureQueriesContext(connection) as queries:
        run_seed(users=2, tasks_per_user=40)

    assert seed_tasks().count() == 80
    assert not [q for q in queries if q["sql"].startswith("DROP INDEX")]


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.usefixtures("small_bulk_threshold")
def test_the_owner_key_added_back_after_a_big_load_still_refuses_unknown_owners():
    run_seed(users=2, tasks_per_user=40)
    orphan = TaskFactory.build(owner=UserFactory.build())

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # not at the test's commit

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.bulk_create([orphan])


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("small_bulk_threshold")
def test_after_the_commit_the_indexes_are_built_on_connections_of_their_own(
    monkeypatch,
):
    before, keys = _task_indexes(), _task_foreign_keys()
    builders: set[str] = set()
    build = indexes._build

    def spy(name: str, statement: str, report: Any) -> None:
        builders.add(threading.current_thread().name)
        build(name, statement, report)

    monkeypatch.setattr(indexes, "_build", spy)
    out, _ = run_seed(users=2, tasks_per_user=40, index_workers=2)

    assert seed_tasks().count() == 80
    assert _task_indexes() == before
    assert _task_foreign_keys() == keys
    assert builders == {"index-build-0", "index-build-1"}
    built = len(Task._meta.indexes)
    assert f"building {built} indexes on 2 connections" in out
    assert out.count("  built todos_task_") == built


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("small_bulk_threshold")
def test_indexes_an_interrupted_build_left_missing_are_built_by_the_next_run(
    monkeypatch,
):
    before = _task_indexes()
    build = indexes._build

    def failing(name: str, statement: str, report: Any) -> None:
        if name == "todos_task_desc_trgm_idx":
            raise KeyboardInterrupt
        build(name, statement, report)

    monkeypatch.setattr(indexes, "_build", failing)
    with pytest.raises(KeyboardInterrupt):
        run_seed(users=2, tasks_per_user=40)

    # The data committed before the builds started. The builders stopped at the
    # error: what one of them had built stays, the rest is missing.
    assert seed_tasks().count() == 80
    missing = indexes.missing_indexes()
    assert "todos_task_desc_trgm_idx" in missing
    assert "todos_task_title_trgm_idx" not in missing

    monkeypatch.setattr(indexes, "_build", build)
    out, _ = run_seed(users=2, tasks_per_user=40)

    assert f"Building {len(missing)} missing task indexes first." in out
    assert "Seed data already exists" in out
    assert _task_indexes() == before
