"""Tasks, the lists and labels that organise them: invariants held by the database.

Cross-user references (a task in another user's list, a label of another user's on
a task) are refused by PostgreSQL itself: see the migrations that add the composite
foreign keys, and docs/lists-and-labels.md.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import connections, models, router, transaction
from django.db.models.functions import Length, Lower, Upper
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from todos.expressions import (
    DatabaseNow,
    NextTaskPosition,
    TaskLabelIds,
    TrimWhitespace,
)
from todos.ids import uuid7

TITLE_MAX_LENGTH = 255
TITLE_BLANK_MESSAGE = "The title may not be blank."
# Rows per statement when a delete writes tombstones (bound parameters stay few).
_DELETE_CHUNK = 5_000
DESCRIPTION_MAX_LENGTH = 10_000
LIST_NAME_MAX_LENGTH = 100
LABEL_NAME_MAX_LENGTH = 60
# Gap between neighbouring positions: a run of moves between the same two
# neighbours halves it each time, so about 60 fit before a list is respaced.
POSITION_GAP = 1 << 20


class Color(models.TextChoices):
    """The fixed palette lists and labels are drawn in (the client picks the hue)."""

    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"
    TEAL = "teal", "Teal"
    BLUE = "blue", "Blue"
    VIOLET = "violet", "Violet"
    PINK = "pink", "Pink"
    BROWN = "brown", "Brown"
    GREY = "grey", "Grey"


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
    "list",
    "labels",
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

    def with_label_ids(self) -> TaskQuerySet:
        """Each task with ``label_ids``, its label ids joined, in the same query
        (no query per task; ``todos.services.label_id_list`` reads them): on
        PostgreSQL the column the database keeps (``TaskLabelIds``)."""
        return self.annotate(label_ids=_label_ids())

    def update(self, **kwargs: Any) -> int:
        """Bump ``version`` and ``updated_at``, and stamp a change sequence.

        ``Model.save()`` does the same for single rows, so no write path of the
        project can change a task without moving all three. A caller that claimed
        the sequence itself (:func:`claim_change_seq`, in the same transaction)
        passes ``change_seq``; otherwise each owner of the matched rows gets one.
        """
        kwargs = {**next_revision(models.F("version")), **kwargs}
        if "change_seq" in kwargs:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = _owners_of(self)
            if not owners:
                return 0
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            kwargs["change_seq"] = _seq_by_owner(seqs)
            # Only the owners whose sequence was claimed: a row of another owner
            # that appeared meanwhile is left as if it had come a moment later.
            return super(TaskQuerySet, self.filter(owner_id__in=owners)).update(
                **kwargs
            )

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the matched tasks, leaving a tombstone for each in the feed.

        Sequences are claimed (and so the owners' counters locked) before the
        rows are locked, the order every writer takes, so no two deadlock.
        """
        with transaction.atomic(using=self.db, savepoint=False):
            owners = _owners_of(self)
            if not owners:
                return 0, {}
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            rows = list(
                self.filter(owner_id__in=owners)
                .select_for_update()
                .order_by()
                .values_list("pk", "owner_id")
            )
            if not rows:
                return 0, {}
            total, counts = 0, dict[str, int]()
            for start in range(0, len(rows), _DELETE_CHUNK):
                chunk = rows[start : start + _DELETE_CHUNK]
                TaskTombstone.objects.using(self.db).bulk_create(
                    [
                        TaskTombstone(
                            task_id=pk, owner_id=owner, change_seq=seqs[owner]
                        )
                        for pk, owner in chunk
                    ]
                )
                doomed = self.model._default_manager.using(self.db).filter(
                    pk__in=[pk for pk, _ in chunk]
                )
                deleted, per_model = models.QuerySet.delete(doomed)
                total += deleted
                for label, count in per_model.items():
                    counts[label] = counts.get(label, 0) + count
            return total, counts

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def bulk_create(  # type: ignore[override]
        self, objs: Any, *args: Any, **kwargs: Any
    ) -> list[Task]:
        """Insert ``objs``, each stamped with its owner's next change sequence."""
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = sorted({obj.owner_id for obj in objs}, key=str)
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            for obj in objs:
                obj.change_seq = seqs[obj.owner_id]
            created: list[Task] = super().bulk_create(objs, *args, **kwargs)  # type: ignore[assignment]
            return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        """Write ``fields`` of ``objs``, each stamped with its owner's next number."""
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = sorted({obj.owner_id for obj in objs}, key=str)
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            for obj in objs:
                obj.change_seq = seqs[obj.owner_id]
            written: int = super().bulk_update(
                objs, [*fields, "change_seq"], *args, **kwargs
            )
            return written


@functools.cache
def _label_ids() -> TaskLabelIds:
    """``with_label_ids``' expression, built once: building it was most of the
    annotation's cost, and ``annotate()`` resolves a copy of it (query and all)
    for each queryset, so one instance serves them all."""
    links = TaskLabel.objects.filter(task=models.OuterRef("pk")).order_by("label_id")
    return TaskLabelIds(links.values("label_id"))


def _named_thing_constraints(table: str, max_length: int) -> list[Any]:
    """The rules a list's or a label's name and colour share, as named constraints."""
    return [
        models.CheckConstraint(
            condition=GreaterThan(Length(TrimWhitespace("name")), 0),
            name=f"{table}_name_not_blank",
            violation_error_message="The name may not be blank.",
        ),
        models.CheckConstraint(
            condition=LessThanOrEqual(Length("name"), max_length),
            name=f"{table}_name_max_length",
            violation_error_message=(
                f"The name may have at most {max_length} characters."
            ),
        ),
        # "Work" and "work" are one name to a person reading a sidebar.
        models.UniqueConstraint(
            "owner",
            Lower("name"),
            name=f"{table}_owner_name_ci_uniq",
            violation_error_message="You already have one with this name.",
        ),
        models.CheckConstraint(
            condition=models.Q(color__isnull=True) | models.Q(color__in=Color.values),
            name=f"{table}_color_valid",
            violation_error_message="The colour is not one of the palette's.",
        ),
        models.CheckConstraint(
            condition=models.Q(version__gte=1),
            name=f"{table}_version_positive",
            violation_error_message="The version must be a positive integer.",
        ),
        # The target of the composite foreign keys that keep references within one
        # owner: (owner_id, id) must be a key for PostgreSQL to point at it.
        models.UniqueConstraint(fields=["owner", "id"], name=f"{table}_owner_id_uniq"),
    ]


class VersionedQuerySet(models.QuerySet[Any]):
    """Lists and labels: every write stamps a change sequence, as tasks do.

    ``update()`` also bumps ``version`` and ``updated_at``; ``delete()`` leaves a
    :class:`NamedTombstone` for each row, and first stamps the tasks that lose a
    deleted label, so the changes feed carries every change of these rows and of
    the tasks they touch whatever path wrote it (services, admin, a shell).
    """

    def update(self, **kwargs: Any) -> int:
        kwargs = {**next_revision(models.F("version")), **kwargs}
        if "change_seq" in kwargs:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = _owners_of(self)
            if not owners:
                return 0
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            kwargs["change_seq"] = _seq_by_owner(seqs)
            return super(VersionedQuerySet, self.filter(owner_id__in=owners)).update(
                **kwargs
            )

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the matched rows, leaving a tombstone for each in the feed."""
        kind = NamedTombstone.kind_of(self.model)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = _owners_of(self)
            if not owners:
                return 0, {}
            if self.model is Label:
                # The cascade takes the labels off their tasks without a task
                # write: stamp those tasks (their label_ids change) first. Their
                # numbers come before the labels', as in label_delete.
                Task.objects.using(self.db).filter(
                    owner_id__in=owners,
                    label_links__label__in=self.filter(owner_id__in=owners).values(
                        "pk"
                    ),
                ).update()
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            rows = list(
                self.filter(owner_id__in=owners)
                .select_for_update()
                .order_by()
                .values_list("pk", "owner_id")
            )
            if not rows:
                return 0, {}
            NamedTombstone.objects.using(self.db).bulk_create(
                [
                    NamedTombstone(
                        id=pk, kind=kind, owner_id=owner, change_seq=seqs[owner]
                    )
                    for pk, owner in rows
                ]
            )
            doomed = self.model._default_manager.using(self.db).filter(
                pk__in=[pk for pk, _ in rows]
            )
            return models.QuerySet.delete(doomed)

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """Insert ``objs``, each stamped with its owner's next change sequence."""
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = sorted({obj.owner_id for obj in objs}, key=str)
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            for obj in objs:
                obj.change_seq = seqs[obj.owner_id]
            return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        """Write ``fields`` of ``objs``, each stamped with its owner's next number."""
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            owners = sorted({obj.owner_id for obj in objs}, key=str)
            seqs = {owner: claim_change_seq(owner, using=self.db) for owner in owners}
            for obj in objs:
                obj.change_seq = seqs[obj.owner_id]
            written: int = super().bulk_update(
                objs, [*fields, "change_seq"], *args, **kwargs
            )
            return written


class _StampedModel(models.Model):
    """A list or a label: ``save()`` stamps the owner's next change sequence.

    The version is the caller's to move (the services do, guarded by a lock);
    ``delete()`` goes through :meth:`VersionedQuerySet.delete` for the tombstone.
    """

    owner_id: Any

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "change_seq"}
        with transaction.atomic(using=using, savepoint=False):
            self.change_seq = claim_change_seq(self.owner_id, using=using)
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        deleted: tuple[int, dict[str, int]] = (
            type(self)._default_manager.using(using).filter(pk=self.pk).delete()
        )
        return deleted


def _change_seq_field() -> models.BigIntegerField[int, int]:
    # The last change's number (claim_change_seq); the changes feed reads the
    # owner's rows in its order. Rows older than the feed keep 0.
    return models.BigIntegerField(default=0, db_default=0, editable=False)


def _change_seq_rules(table: str, index: str) -> tuple[Any, Any]:
    return (
        models.CheckConstraint(
            condition=models.Q(change_seq__gte=0),
            name=f"{table}_change_seq_not_negative",
            violation_error_message="The change sequence may not be negative.",
        ),
        models.Index(
            fields=["owner", "change_seq", "id"], name=f"todos_{index}_owner_change_idx"
        ),
    )


def _owners_of(rows: models.QuerySet[Any]) -> list[Any]:
    """The distinct owners of ``rows``, in one fixed order (the lock order)."""
    owners = set(rows.order_by().values_list("owner_id", flat=True).distinct())
    return sorted(owners, key=str)


def _seq_by_owner(seqs: dict[Any, int]) -> models.Expression:
    if len(seqs) == 1:
        return models.Value(next(iter(seqs.values())))
    return models.Case(
        *[
            models.When(owner_id=owner, then=models.Value(seq))
            for owner, seq in seqs.items()
        ],
        output_field=models.BigIntegerField(),
    )


def claim_sql(source: str) -> str:
    """The claim as SQL: the next number of the owner in ``source``'s one row.

    ``source`` is ``VALUES (%s, 1, 0)`` or a ``SELECT owner_id, 1, 0 ...``; an
    empty source claims nothing. ``todos.services`` runs it as a ``WITH`` of the
    statement that writes the change (PostgreSQL), see :func:`claim_change_seq`.
    """
    return (
        f"INSERT INTO todos_changesequence (owner_id, last_seq, pruned_seq) {source} "
        "ON CONFLICT (owner_id) "
        "DO UPDATE SET last_seq = todos_changesequence.last_seq + 1 RETURNING last_seq"
    )


_CLAIM_SQL = claim_sql("VALUES (%s, 1, 0)")


def claim_change_seq(owner_id: Any, *, using: str = "default") -> int:
    """The owner's next change sequence number, for a write in this transaction.

    Must run inside the transaction that writes the change
    (``transaction.atomic``): the owner's counter row stays locked until it
    commits, so a concurrent writer of the same owner waits and gets a larger
    number. For each owner, then, the order of the numbers is the order of the
    commits, and once a number is visible every smaller one is committed: what
    the changes feed relies on to never miss a change.

    On PostgreSQL the single-task writes of ``todos.services`` claim inside the
    write statement itself (:func:`claim_sql` as a ``WITH``): the statement is
    its own transaction, or part of the caller's, and the counter row stays
    locked from the claim to the commit all the same. Every writer claims before
    it locks a task row, so no two writers of an owner deadlock.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "claim_change_seq() must run inside the writing transaction."
        )
    owner = ChangeSequence._meta.pk.get_db_prep_value(owner_id, connection)
    with connection.cursor() as cursor:
        # One statement on both backends: creates the counter on the first write,
        # and in PostgreSQL takes the row lock that orders the owner's writers.
        cursor.execute(_CLAIM_SQL, [owner])
        (seq,) = cursor.fetchone()
    return int(seq)


class TaskList(_StampedModel):
    """A user's named group of tasks (a project, in Todoist's words).

    A task is in at most one list; a task in none is in the inbox.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="task_lists",
        # Served by the (owner, position) and (owner, lower(name)) keys.
        db_index=False,
    )
    name = models.CharField(max_length=LIST_NAME_MAX_LENGTH)
    # NULL, not "", is "no colour": the API says null, and the CHECK admits only
    # the palette's names, so there is one way to say it.
    color = models.CharField(  # noqa: DJ001
        max_length=20, choices=Color.choices, null=True, blank=True
    )
    # The list's place among the owner's lists; smaller first. Gaps are left
    # between neighbours so that a move writes one row.
    position = models.BigIntegerField(editable=False)
    created_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    updated_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    version = models.IntegerField(default=1, db_default=1, editable=False)
    change_seq = _change_seq_field()

    objects: ClassVar[VersionedQuerySet] = VersionedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = "list"
        ordering = ["position", "id"]
        indexes = [_change_seq_rules("todos_tasklist", "list")[1]]
        constraints = [
            _change_seq_rules("todos_tasklist", "list")[0],
            *_named_thing_constraints("todos_tasklist", LIST_NAME_MAX_LENGTH),
            # Also the index the owner's lists are read through, in order.
            models.UniqueConstraint(
                fields=["owner", "position"],
                name="todos_tasklist_owner_position_uniq",
                violation_error_message="Two lists may not share a position.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Label(_StampedModel):
    """A user's tag; a task carries any number of the same user's labels."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="labels",
        # Served by the (owner, lower(name)) key.
        db_index=False,
    )
    name = models.CharField(max_length=LABEL_NAME_MAX_LENGTH)
    # NULL, not "", is "no colour": the API says null, and the CHECK admits only
    # the palette's names, so there is one way to say it.
    color = models.CharField(  # noqa: DJ001
        max_length=20, choices=Color.choices, null=True, blank=True
    )
    created_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    updated_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)
    version = models.IntegerField(default=1, db_default=1, editable=False)
    change_seq = _change_seq_field()

    objects: ClassVar[VersionedQuerySet] = VersionedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = [Lower("name"), "id"]
        indexes = [_change_seq_rules("todos_label", "label")[1]]
        constraints = [
            _change_seq_rules("todos_label", "label")[0],
            *_named_thing_constraints("todos_label", LABEL_NAME_MAX_LENGTH),
        ]

    def __str__(self) -> str:
        return self.name


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
    # None: the inbox. RESTRICT: deleting a list says what becomes of its tasks
    # (todos.services.task_list_delete); nothing deletes them by default. The
    # database also refuses another owner's list: see migration task_lists.
    list = models.ForeignKey(
        TaskList,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="tasks",
        # Served by todos_task_list_created_idx, which starts with list_id.
        db_index=False,
    )
    labels = models.ManyToManyField(
        Label, through="TaskLabel", related_name="tasks", blank=True
    )
    # The task's place in its list (or the inbox), smaller first; new tasks go
    # last. Unique within the list: todos.services.task_move keeps gaps between
    # neighbours so that a move writes one row.
    position = models.BigIntegerField(db_default=NextTaskPosition(), editable=False)
    # The owner's change sequence number of the task's last write (see
    # claim_change_seq); the changes feed reads the owner's tasks in its order.
    # Rows loaded around the ORM (the seed's COPY) keep 0 and come first.
    change_seq = models.BigIntegerField(default=0, db_default=0, editable=False)

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
            # The target of task_label's composite foreign key (same owner).
            models.UniqueConstraint(
                fields=["owner", "id"], name="todos_task_owner_id_uniq"
            ),
            # No two tasks of a list, or of one user's inbox, share a position.
            # Also the indexes ?list=...&ordering=position reads in order.
            models.UniqueConstraint(
                fields=["list", "position"],
                condition=models.Q(list__isnull=False),
                name="todos_task_list_position_uniq",
                violation_error_message="Two tasks of a list may not share a place.",
            ),
            models.UniqueConstraint(
                fields=["owner", "position"],
                condition=models.Q(list__isnull=True),
                name="todos_task_inbox_position_uniq",
                violation_error_message="Two inbox tasks may not share a place.",
            ),
            models.CheckConstraint(
                condition=models.Q(change_seq__gte=0),
                name="todos_task_change_seq_not_negative",
                violation_error_message="The change sequence may not be negative.",
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
            # ?list=<id>, newest first; a list's tasks are all its owner's (the
            # composite foreign key), so the list id alone finds them. Also the
            # index behind the list foreign key (a list's delete looks its tasks up).
            models.Index(
                "list",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="todos_task_list_created_idx",
            ),
            # ?list=inbox, newest first.
            models.Index(
                "owner",
                models.F("created_at").desc(),
                models.F("id").desc(),
                condition=models.Q(list__isnull=True),
                name="todos_task_owner_inbox_idx",
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
            # The changes feed (todos/changes.py): one range of it per page.
            models.Index(
                fields=["owner", "change_seq", "id"],
                name="todos_task_owner_change_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Move ``version``, ``updated_at`` and ``change_seq`` on every write.

        The increment starts from the version this instance read: writers that may
        race (the API's services) update with ``QuerySet.update`` guarded by the
        version instead of calling ``save()``.
        """
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        update_fields = kwargs.get("update_fields")
        if not self._state.adding:
            revision = next_revision(self.version)
            for name, value in revision.items():
                setattr(self, name, value)
            if update_fields is not None:
                update_fields = {*update_fields, *revision}
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "change_seq"}
        with transaction.atomic(using=using, savepoint=False):
            self.change_seq = claim_change_seq(self.owner_id, using=using)
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete through :meth:`TaskQuerySet.delete`, which leaves a tombstone."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        return type(self)._default_manager.using(using).filter(pk=self.pk).delete()

    def clean(self) -> None:
        """Keep ``completed_at`` in step with ``status`` and reject blank titles."""
        super().clean()
        if self.title is not None and not self.title.strip():
            raise ValidationError({"title": TITLE_BLANK_MESSAGE})
        self.completed_at = completion_time_for(self.status, self.completed_at)


class TaskLabel(models.Model):
    """One label on one task; both the same owner's (a composite foreign key each).

    ``owner`` is the task's and the label's owner, carried here so that PostgreSQL
    can check it: ``(owner, task)`` references the task's ``(owner, id)`` and
    ``(owner, label)`` the label's. On PostgreSQL, triggers on this table keep each
    task's label ids in ``todos_task.label_ids`` (migration 0009), which the task
    list reads (``TaskQuerySet.with_label_ids``).
    """

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="label_links", db_index=False
    )
    label = models.ForeignKey(
        Label, on_delete=models.CASCADE, related_name="task_links", db_index=False
    )

    class Meta:
        constraints = [
            # Also the index a task's labels are read through.
            models.UniqueConstraint(
                fields=["task", "label"], name="todos_tasklabel_task_label_uniq"
            ),
        ]
        indexes = [
            # ?label=: a label's tasks; and a label's delete finds its links.
            models.Index(fields=["label", "task"], name="todos_tasklabel_label_idx"),
            # A user's delete finds their links.
            models.Index(fields=["owner"], name="todos_tasklabel_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.label_id}"


def completion_time_for(
    status: str, completed_at: datetime.datetime | None
) -> datetime.datetime | None:
    """``completed_at`` for a task moving to ``status``: kept, stamped or cleared."""
    if status != TaskStatus.COMPLETED:
        return None
    return completed_at or timezone.now()


class ChangeSequence(models.Model):
    """One user's change counter: the last sequence number handed out.

    ``pruned_seq`` is the largest sequence number of a tombstone purged so far: a
    sync token from before it may have missed a deletion and is refused (410).
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    last_seq = models.BigIntegerField(default=0, db_default=0)
    pruned_seq = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pruned_seq__gte=0)
                & models.Q(last_seq__gte=models.F("pruned_seq")),
                name="todos_changesequence_pruned_within_last",
                violation_error_message=(
                    "Sequences only grow, and only what was handed out is pruned."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.last_seq}"


class TaskTombstone(models.Model):
    """A deleted task's id, kept for the changes feed until it is purged."""

    task_id = models.UUIDField(primary_key=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        # The feed's index starts with owner_id.
        db_index=False,
    )
    change_seq = models.BigIntegerField()
    deleted_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(change_seq__gte=1),
                name="todos_tasktombstone_change_seq_positive",
                violation_error_message="A tombstone's sequence number is positive.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["owner", "change_seq", "task_id"],
                name="todos_tomb_owner_change_idx",
            ),
            # purge_sync_records: the tombstones past their retention.
            models.Index(fields=["deleted_at"], name="todos_tomb_deleted_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} (deleted)"


class TombstoneKind(models.TextChoices):
    LIST = "list", "List"
    LABEL = "label", "Label"


class NamedTombstone(models.Model):
    """A deleted list's or label's id, kept for the changes feed until purged."""

    Kind = TombstoneKind

    id = models.UUIDField(primary_key=True, editable=False)
    kind = models.CharField(max_length=5, choices=TombstoneKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        # The feed's index starts with owner_id.
        db_index=False,
    )
    change_seq = models.BigIntegerField()
    deleted_at = models.DateTimeField(db_default=DatabaseNow(), editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(change_seq__gte=1),
                name="todos_namedtombstone_change_seq_positive",
                violation_error_message="A tombstone's sequence number is positive.",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=TombstoneKind.values),
                name="todos_namedtombstone_kind_valid",
                violation_error_message="A tombstone is of a list or a label.",
            ),
        ]
        indexes = [
            # Lists' and labels' tombstones are one range: the feed reads both.
            models.Index(
                fields=["owner", "change_seq", "id"],
                name="todos_ntomb_owner_change_idx",
            ),
            models.Index(fields=["deleted_at"], name="todos_ntomb_deleted_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} (deleted)"

    @staticmethod
    def kind_of(model: type[models.Model]) -> str:
        return TombstoneKind.LIST if model is TaskList else TombstoneKind.LABEL
