"""The task: one user's to-do item, its invariants enforced by the database."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.functions import Length, Upper
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from todos.expressions import DatabaseNow, TrimWhitespace
from todos.ids import uuid7

TITLE_MAX_LENGTH = 255
TITLE_BLANK_MESSAGE = "The title may not be blank."
DESCRIPTION_MAX_LENGTH = 10_000


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class TaskPriority(models.IntegerChoices):
    """Stored as numbers so that sorting by priority sorts by urgency."""

    LOW = 10, "Low"
    NORMAL = 20, "Normal"
    HIGH = 30, "High"
    URGENT = 40, "Urgent"


# Priorities travel through the API as these names (``low`` … ``urgent``), in
# filters and in documents alike; the database stores the ranks.
PRIORITY_BY_NAME: dict[str, int] = {p.name.lower(): int(p.value) for p in TaskPriority}
NAME_BY_PRIORITY: dict[int, str] = {r: n for n, r in PRIORITY_BY_NAME.items()}


# A task as the API shows it, in this order: the serializer's fields, which the
# admin shows too (with the owner and the version). The API writes none of the
# read-only ones.
TASK_FIELDS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "completed_at",
    "created_at",
    "updated_at",
)
TASK_READ_ONLY_FIELDS = ("id", "completed_at", "created_at", "updated_at")

# An open task is one not completed: the list's open filters, the partial indexes
# that serve them, and the bulk completion all use this one condition.
OPEN = ~models.Q(status=TaskStatus.COMPLETED)


def overdue_condition(now: datetime.datetime) -> models.Q:
    """Overdue at ``now``: due strictly before it and still open."""
    return models.Q(due_at__lt=now) & OPEN


def next_revision(version: Any) -> dict[str, Any]:
    """What every change of a stored task writes besides its own fields.

    ``version`` one up from ``version`` (a number, or ``F("version")`` in SQL) and
    ``updated_at`` now. ``Task.save()``, ``TaskQuerySet.update()`` and the
    optimistic updates of ``todos.services`` all write exactly this.
    """
    return {"version": version + 1, "updated_at": timezone.now()}


class TaskQuerySet(models.QuerySet["Task"]):
    """Reusable filters, and an ``update()`` that keeps the row's bookkeeping."""

    def open(self) -> TaskQuerySet:
        return self.filter(OPEN)

    def overdue(self, now: datetime.datetime | None = None) -> TaskQuerySet:
        return self.filter(overdue_condition(now or timezone.now()))

    def not_overdue(self, now: datetime.datetime | None = None) -> TaskQuerySet:
        """Everything :meth:`overdue` leaves out, undated tasks included."""
        return self.filter(~overdue_condition(now or timezone.now()))

    def update(self, **kwargs: Any) -> int:
        """Bump ``version`` and ``updated_at`` on every bulk update as well.

        ``Model.save()`` does the same for single rows, so no write path of the
        project can change a task without moving both.
        """
        return super().update(**{**next_revision(models.F("version")), **kwargs})

    update.alters_data = True  # type: ignore[attr-defined]


class Task(models.Model):
    """A to-do item. Every task belongs to exactly one user."""

    Status = TaskStatus
    Priority = TaskPriority

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="tasks",
        # The composite indexes below all start with owner_id.
        db_index=False,
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    description = models.TextField(
        blank=True,
        default="",
        db_default="",
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH)],
    )
    status = models.CharField(
        max_length=20,
        choices=TaskStatus.choices,
        default=TaskStatus.PENDING,
        db_default=TaskStatus.PENDING,
    )
    priority = models.SmallIntegerField(
        choices=TaskPriority.choices,
        default=TaskPriority.NORMAL,
        db_default=TaskPriority.NORMAL,
    )
    due_at = models.DateTimeField("due", null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    updated_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    version = models.IntegerField(default=1, db_default=1, editable=False)

    objects: ClassVar[TaskQuerySet] = TaskQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=GreaterThan(Length(TrimWhitespace("title")), 0),
                name="todos_task_title_not_blank",
                violation_error_message=TITLE_BLANK_MESSAGE,
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("title"), TITLE_MAX_LENGTH),
                name="todos_task_title_max_length",
                violation_error_message=(
                    f"The title may have at most {TITLE_MAX_LENGTH} characters."
                ),
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(
                    Length("description"), DESCRIPTION_MAX_LENGTH
                ),
                name="todos_task_description_max_length",
                violation_error_message=(
                    f"The description may have at most {DESCRIPTION_MAX_LENGTH} "
                    "characters."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values),
                name="todos_task_status_valid",
                violation_error_message="The status is not one of the known values.",
            ),
            models.CheckConstraint(
                condition=models.Q(priority__in=TaskPriority.values),
                name="todos_task_priority_valid",
                violation_error_message="The priority is not one of the known values.",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status=TaskStatus.COMPLETED, completed_at__isnull=False)
                    | (
                        ~models.Q(status=TaskStatus.COMPLETED)
                        & models.Q(completed_at__isnull=True)
                    )
                ),
                name="todos_task_completed_at_matches_status",
                violation_error_message=(
                    "A task has a completion time exactly when it is completed."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1),
                name="todos_task_version_positive",
                violation_error_message="The version must be a positive integer.",
            ),
        ]
        # Every list page is one owner's rows in the order of one of these indexes,
        # read from the cursor's position for LIMIT n + 1 rows (todos/pagination.py):
        # no ordering needs a sort, and a deep page costs what the first does. Each
        # index also costs every insert and every update (updated_at is indexed, so
        # no update is HOT), which is why none exists for a query the API does not
        # run. tests/todos/test_query_plans.py holds the planner to this.
        indexes = [
            # ordering=created_at (the default, newest first) and the created_*
            # filters; the other filters read it until a page is full.
            models.Index(
                "owner",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="todos_task_owner_created_idx",
            ),
            # The same for open tasks only (?status=pending,in_progress, one of them,
            # ?overdue=true). A long-lived user's tasks are mostly completed; without
            # it a list of the few open ones reads past every completed one first.
            models.Index(
                "owner",
                models.F("created_at").desc(),
                models.F("id").desc(),
                condition=OPEN,
                name="todos_task_owner_open_idx",
            ),
            # Full rather than partial (due_at IS NOT NULL): ordering=due_at lists the
            # undated tasks too, after the dated ones, and must not sort them.
            models.Index(
                fields=["owner", "due_at", "id"], name="todos_task_owner_due_idx"
            ),
            # "What is due next": open tasks by due date (the README's example list).
            models.Index(
                fields=["owner", "due_at", "id"],
                condition=OPEN,
                name="todos_task_owner_open_due_idx",
            ),
            models.Index(
                fields=["owner", "updated_at", "id"],
                name="todos_task_owner_updated_idx",
            ),
            models.Index(
                fields=["owner", "priority", "id"],
                name="todos_task_owner_priority_idx",
            ),
            models.Index(
                fields=["owner", "title", "id"], name="todos_task_owner_title_idx"
            ),
            # ?search= is a case-insensitive substring match, which Django writes as
            # UPPER(column) LIKE UPPER('%term%'): trigram indexes on exactly those
            # expressions find a rare term without reading the owner's every task (a
            # common one is found sooner by reading the created_at index). PostgreSQL
            # only: migration 0003 creates them nowhere else.
            GinIndex(
                OpClass(Upper("title"), name="gin_trgm_ops"),
                name="todos_task_title_trgm_idx",
            ),
            GinIndex(
                OpClass(Upper("description"), name="gin_trgm_ops"),
                name="todos_task_desc_trgm_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Move ``version`` and ``updated_at`` on every change of a stored row.

        The increment starts from the version this instance read: writers that may
        race (the API's services) update with ``QuerySet.update`` guarded by the
        version instead of calling ``save()``.
        """
        if not self._state.adding:
            revision = next_revision(self.version)
            for name, value in revision.items():
                setattr(self, name, value)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, *revision}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Keep ``completed_at`` in step with ``status`` and reject blank titles."""
        super().clean()
        if self.title is not None and not self.title.strip():
            raise ValidationError({"title": TITLE_BLANK_MESSAGE})
        self.completed_at = completion_time_for(self.status, self.completed_at)


def completion_time_for(
    status: str, completed_at: datetime.datetime | None
) -> datetime.datetime | None:
    """``completed_at`` for a task moving to ``status``: kept, stamped or cleared."""
    if status != TaskStatus.COMPLETED:
        return None
    return completed_at or timezone.now()
