"""Writes to tasks. Every change of a task's state goes through these functions.

Single-task updates are optimistic: ``UPDATE ... WHERE id = %s AND version = %s``
writes only the fields that were sent and moves the version by one. When the row
moved underneath (a concurrent writer), a caller that asked for a version (If-Match)
gets :class:`VersionMismatch`; anyone else has their change re-applied on the fresh
row, so two concurrent edits of different fields both survive.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from todos.models import Task, TaskStatus, claim_change_seq, completion_time_for

_MAX_ATTEMPTS = 5


class VersionMismatch(Exception):
    """The task is not at the version the caller expected."""


class TaskGone(Exception):
    """The task was deleted while the caller was changing it."""


def task_create(*, owner: User, **fields: Any) -> Task:
    """Create a task owned by ``owner``; ``completed_at`` follows the status."""
    status = fields.get("status", TaskStatus.PENDING)
    fields["completed_at"] = completion_time_for(status, None)
    return Task.objects.create(owner=owner, **fields)


def task_update(
    *, task: Task, changes: dict[str, Any], expected_version: int | None = None
) -> Task:
    """Apply ``changes`` (only those fields) to ``task`` and return it, current.

    Raises :class:`VersionMismatch` when ``expected_version`` is given and the
    stored row is at another version, and :class:`TaskGone` if it was deleted.
    """
    if expected_version is not None and task.version != expected_version:
        raise VersionMismatch
    for _ in range(_MAX_ATTEMPTS):
        values = _values_for(task, changes)
        if not values:
            return task
        now = timezone.now()
        # No savepoint: an error ends the caller's transaction on PostgreSQL anyway.
        with transaction.atomic(savepoint=False):
            # Claimed first, in the write's transaction: the feed's order is the
            # order of the owner's commits (todos.models.claim_change_seq).
            seq = claim_change_seq(task.owner_id)
            written = Task.objects.filter(pk=task.pk, version=task.version).update(
                **values, version=task.version + 1, updated_at=now, change_seq=seq
            )
        if written:
            task.change_seq = seq
            for name, value in values.items():
                setattr(task, name, value)
            task.version += 1
            task.updated_at = now
            return task
        if expected_version is not None:
            raise VersionMismatch
        fresh = Task.objects.filter(pk=task.pk).first()
        if fresh is None:
            raise TaskGone
        task = fresh
    raise VersionMismatch  # pragma: no cover - needs five writers racing at once


def _values_for(task: Task, changes: dict[str, Any]) -> dict[str, Any]:
    """The columns that really change, ``completed_at`` kept in step."""
    values = {k: v for k, v in changes.items() if getattr(task, k) != v}
    if "status" in values:
        values["completed_at"] = completion_time_for(
            values["status"], task.completed_at
        )
    return values


def task_complete(*, task: Task, expected_version: int | None = None) -> Task:
    """Mark the task completed; completing a completed task changes nothing."""
    return task_update(
        task=task,
        changes={"status": TaskStatus.COMPLETED},
        expected_version=expected_version,
    )


def task_reopen(*, task: Task, expected_version: int | None = None) -> Task:
    """Move a completed task back to pending; an open task is left as it is."""
    if task.status != TaskStatus.COMPLETED:
        if expected_version is not None and task.version != expected_version:
            raise VersionMismatch
        return task
    return task_update(
        task=task,
        changes={"status": TaskStatus.PENDING},
        expected_version=expected_version,
    )


@transaction.atomic
def task_delete(*, task: Task, expected_version: int | None = None) -> None:
    """Delete the task, only at ``expected_version`` when one is given."""
    rows = Task.objects.filter(pk=task.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    deleted, _ = rows.delete()
    if not deleted:
        if expected_version is not None and Task.objects.filter(pk=task.pk).exists():
            raise VersionMismatch
        raise TaskGone


def tasks_complete(*, tasks: QuerySet[Task]) -> int:
    """Complete every open task in ``tasks``; return how many changed."""
    return tasks.exclude(status=TaskStatus.COMPLETED).update(
        status=TaskStatus.COMPLETED, completed_at=timezone.now()
    )


def tasks_reopen(*, tasks: QuerySet[Task]) -> int:
    """Move every completed task in ``tasks`` back to pending; return how many."""
    return tasks.filter(status=TaskStatus.COMPLETED).update(
        status=TaskStatus.PENDING, completed_at=None
    )
