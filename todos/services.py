"""Writes to tasks. Every change of a task's state goes through these functions."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from todos.models import Task


def tasks_complete(*, tasks: QuerySet[Task]) -> int:
    """Complete every open task in ``tasks``; return how many changed."""
    return tasks.exclude(status=Task.Status.COMPLETED).update(
        status=Task.Status.COMPLETED, completed_at=timezone.now()
    )


def tasks_reopen(*, tasks: QuerySet[Task]) -> int:
    """Move every completed task in ``tasks`` back to pending; return how many."""
    return tasks.filter(status=Task.Status.COMPLETED).update(
        status=Task.Status.PENDING, completed_at=None
    )
