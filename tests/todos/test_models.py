"""The task table: every invariant is enforced by the database and validated."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from todos import services
from todos.ids import uuid7
from todos.models import Task

pytestmark = pytest.mark.django_db


def _db_id(value: uuid.UUID) -> Any:
    return Task._meta.pk.get_db_prep_value(value, connection)


def _db_user_id(user: User) -> Any:
    return User._meta.pk.get_db_prep_value(user.pk, connection)


def _raw_update(task: Task, column: str, value: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE todos_task SET {column} = %s WHERE id = %s",
            [value, _db_id(task.pk)],
        )


# --- CHECK and NOT NULL rules, at the database --------------------------------------

BAD_VALUES = [
    pytest.param("title", "", id="title-empty"),
    pytest.param("title", "   ", id="title-spaces"),
    pytest.param("title", "\t\n \r", id="title-whitespace"),
    # On PostgreSQL varchar(255) refuses it first (DataError); the CHECK is what
    # stops it on SQLite, which does not enforce varchar lengths.
    pytest.param("title", "x" * 256, id="title-too-long"),
    pytest.param("title", None, id="title-null"),
    pytest.param("description", "x" * 10_001, id="description-too-long"),
    pytest.param("description", None, id="description-null"),
    pytest.param("status", "done", id="status-unknown"),
    pytest.param("status", None, id="status-null"),
    pytest.param("priority", 25, id="priority-unknown"),
    pytest.param("priority", None, id="priority-null"),
    pytest.param("version", 0, id="version-zero"),
    pytest.param("version", -3, id="version-negative"),
    pytest.param("version", None, id="version-null"),
    pytest.param("created_at", None, id="created-null"),
    pytest.param("updated_at", None, id="updated-null"),
    pytest.param("owner_id", None, id="owner-null"),
]


@pytest.mark.parametrize(("column", "value"), BAD_VALUES)
def test_raw_sql_cannot_store_a_bad_value(column, value):
    task = TaskFactory.create()
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        _raw_update(task, column, value)


@pytest.mark.parametrize(("column", "value"), BAD_VALUES)
def test_queryset_update_cannot_store_a_bad_value(column, value):
    task = TaskFactory.create()
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(**{column: value})


@pytest.mark.parametrize(
    ("status", "completed_at"),
    [
        pytest.param("completed", None, id="completed-without-time"),
        pytest.param("pending", timezone.now(), id="pending-with-time"),
        pytest.param("in_progress", timezone.now(), id="in-progress-with-time"),
    ],
)
def test_completed_at_must_match_the_status_in_the_database(status, completed_at):
    task = TaskFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(status=status, completed_at=completed_at)


def test_a_task_without_an_existing_owner_is_rejected_by_the_foreign_key():
    with transaction.atomic():
        Task.objects.create(owner_id=uuid.uuid4(), title="orphan")
        # Both engines defer the check to the end of the transaction; ask for it now.
        with pytest.raises(IntegrityError):
            connection.check_constraints(table_names=["todos_task"])
        transaction.set_rollback(True)


def test_the_id_is_the_primary_key_and_unique():
    task = TaskFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(id=task.id, owner=task.owner, title="same id")


def test_database_defaults_fill_a_minimal_raw_insert():
    user = UserFactory.create()
    new_id = uuid7()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO todos_task (id, owner_id, title) VALUES (%s, %s, %s)",
            [_db_id(new_id), _db_user_id(user), "minimal"],
        )
    task = Task.objects.get(pk=new_id)
    assert (task.description, task.status, task.priority, task.version) == (
        "",
        Task.Status.PENDING,
        Task.Priority.NORMAL,
        1,
    )
    assert task.created_at is not None
    assert task.updated_at is not None
    assert task.completed_at is None


# --- Validation messages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "This field cannot be blank."),
        ({"title": "  \t "}, "title", "The title may not be blank."),
        (
            {"title": "x" * 256},
            "title",
            "Ensure this value has at most 255 characters (it has 256).",
        ),
        (
            {"description": "x" * 10_001},
            "description",
            "Ensure this value has at most 10000 characters (it has 10001).",
        ),
        ({"status": "done"}, "status", "Value 'done' is not a valid choice."),
        ({"priority": 25}, "priority", "Value 25 is not a valid choice."),
    ],
)
def test_model_validation_explains_each_field_rule(changes, field, message):
    task = TaskFactory.build(owner=UserFactory.create(), **changes)
    with pytest.raises(ValidationError) as excinfo:
        task.full_clean()
    assert message in excinfo.value.message_dict[field]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 0}, "The version must be a positive integer."),
        ({"title": "\t\t"}, "The title may not be blank."),
    ],
)
def test_constraint_validation_has_friendly_messages(changes, message):
    task = TaskFactory.build(owner=UserFactory.create(), **changes)
    with pytest.raises(ValidationError) as excinfo:
        task.validate_constraints()
    assert message in excinfo.value.messages


def test_completion_rule_has_a_friendly_message():
    task = TaskFactory.build(
        owner=UserFactory.create(), status="completed", completed_at=None
    )
    with pytest.raises(ValidationError) as excinfo:
        task.validate_constraints()
    assert excinfo.value.messages == [
        "A task has a completion time exactly when it is completed."
    ]


def test_a_task_without_owner_fails_validation():
    task = Task(title="no owner")
    with pytest.raises(ValidationError) as excinfo:
        task.full_clean()
    assert "owner" in excinfo.value.message_dict


def test_clean_keeps_completed_at_in_step_with_status():
    task = TaskFactory.build(owner=UserFactory.create(), status="completed")
    task.full_clean()
    assert task.completed_at is not None
    task.status = Task.Status.PENDING
    task.full_clean()
    assert task.completed_at is None


# --- Ownership ----------------------------------------------------------------------


def test_deleting_a_user_deletes_their_tasks_through_the_orm():
    doomed, survivor = UserFactory.create(), UserFactory.create()
    TaskFactory.create_batch(3, owner=doomed)
    kept = TaskFactory.create(owner=survivor)

    doomed.delete()

    assert list(Task.objects.all()) == [kept]


@pytest.mark.postgres(
    reason="the ON DELETE CASCADE foreign key is created on PostgreSQL"
)
def test_a_raw_delete_of_a_user_row_cascades_to_their_tasks():
    doomed, survivor = UserFactory.create(), UserFactory.create()
    TaskFactory.create_batch(3, owner=doomed)
    kept = TaskFactory.create(owner=survivor)

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_user WHERE id = %s", [_db_user_id(doomed)])
    connection.check_constraints()

    assert list(Task.objects.all()) == [kept]


# --- Ids and timestamps -------------------------------------------------------------


def test_ids_are_uuid7_and_time_ordered():
    tasks = [TaskFactory.create() for _ in range(50)]
    ids = [task.id for task in tasks]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert sorted(Task.objects.values_list("id", flat=True)) == ids


def test_uuid7_is_monotonic_within_one_millisecond_and_carries_the_time():
    before_ms = timezone.now().timestamp() * 1000
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert (ids[0].int >> 80) >= int(before_ms)
    assert ids[0].variant == uuid.RFC_4122


def test_created_at_is_set_by_the_database_and_returned_on_insert():
    task = TaskFactory.create()
    assert isinstance(task.created_at, datetime.datetime)
    assert task.created_at.tzinfo is not None
    assert Task.objects.get(pk=task.pk).created_at == task.created_at


def _reload(task: Task) -> Task:
    return Task.objects.get(pk=task.pk)


def test_save_moves_version_and_updated_at_but_not_created_at():
    task = _reload(TaskFactory.create())
    created, updated = task.created_at, task.updated_at

    task.title = "changed"
    task.save()
    task = _reload(task)
    assert task.version == 2
    assert task.updated_at > updated
    assert task.created_at == created

    task.description = "again"
    task.save(update_fields=["description"])
    task = _reload(task)
    assert task.version == 3
    assert task.created_at == created


def test_queryset_update_moves_version_and_updated_at_but_not_created_at():
    task = _reload(TaskFactory.create())
    Task.objects.filter(pk=task.pk).update(title="bulk")
    after = _reload(task)
    assert after.version == task.version + 1
    assert after.updated_at > task.updated_at
    assert after.created_at == task.created_at


@pytest.mark.parametrize("action", ["complete", "reopen"])
def test_bulk_services_move_version_and_updated_at(action):
    task = _reload(TaskFactory.create(status="completed", completed_at=timezone.now()))
    if action == "complete":
        task = _reload(TaskFactory.create())
        changed = services.tasks_complete(tasks=Task.objects.filter(pk=task.pk))
    else:
        changed = services.tasks_reopen(tasks=Task.objects.filter(pk=task.pk))
    after = _reload(task)
    assert changed == 1
    assert after.version == task.version + 1
    assert after.updated_at > task.updated_at
    assert after.created_at == task.created_at


def test_completing_sets_completed_at_and_reopening_clears_it():
    task = TaskFactory.create()
    assert services.tasks_complete(tasks=Task.objects.filter(pk=task.pk)) == 1
    done = _reload(task)
    assert done.status == Task.Status.COMPLETED
    assert done.completed_at is not None

    assert services.tasks_complete(tasks=Task.objects.filter(pk=task.pk)) == 0
    assert _reload(task).completed_at == done.completed_at

    assert services.tasks_reopen(tasks=Task.objects.filter(pk=task.pk)) == 1
    reopened = _reload(task)
    assert reopened.status == Task.Status.PENDING
    assert reopened.completed_at is None


# --- the queryset's rules -----------------------------------------------------------


def test_overdue_and_not_overdue_split_the_tasks_by_the_one_overdue_rule():
    now = timezone.now()
    past, future = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)
    owner = UserFactory.create()
    late = TaskFactory.create(owner=owner, due_at=past, status=Task.Status.PENDING)
    started = TaskFactory.create(
        owner=owner, due_at=past, status=Task.Status.IN_PROGRESS
    )
    done_late = TaskFactory.create(
        owner=owner, due_at=past, status=Task.Status.COMPLETED, completed_at=now
    )
    upcoming = TaskFactory.create(owner=owner, due_at=future)
    undated = TaskFactory.create(owner=owner, due_at=None)

    assert set(Task.objects.overdue(now)) == {late, started}
    assert set(Task.objects.not_overdue(now)) == {done_late, upcoming, undated}
    assert set(Task.objects.open()) == {late, started, upcoming, undated}
