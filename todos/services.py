"""Writes to tasks. Every change of a task's state goes through these functions.

Single-task updates are optimistic: ``UPDATE ... WHERE id = %s AND version = %s``
writes only the fields that were sent and moves the version by one. When the row
moved underneath (a concurrent writer), a caller that asked for a version (If-Match)
gets :class:`VersionMismatch`; anyone else has their change re-applied on the fresh
row, so two concurrent edits of different fields both survive.

On PostgreSQL a task is created by ONE statement, which claims the owner's change
number (``todos.models.claim_sql``) and inserts the row and its label links: no
transaction of its own (an autocommit statement is atomic). A task is changed or
deleted by one statement too, with no read before it: the statement reads the
row, claims a number and writes, in that order, and returns the row as written;
a 404, a 412 and "nothing to change" are told apart from the row it read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Field, Max, QuerySet, Value
from django.db.models.expressions import DatabaseDefault
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from api.postgresql import statement_cursor
from todos.expressions import UNPLACED_POSITION
from todos.models import (
    OPEN,
    POSITION_GAP,
    Label,
    Task,
    TaskLabel,
    TaskList,
    TaskStatus,
    TaskTombstone,
    claim_change_seq,
    claim_sql,
    completion_time_for,
    next_revision,
)

_MAX_ATTEMPTS = 5


class VersionMismatch(Exception):
    """The task is not at the version the caller expected."""


class TaskGone(Exception):
    """The task was deleted while the caller was changing it."""


class ReferenceGone(Exception):
    """A list or label the write names was deleted while it was being made."""


class OwnerRefused(Exception):
    """A create's ``owner_check`` did not hold: nothing was written."""


def task_create(
    *, owner: User | None = None, owner_check: Condition | None = None, **fields: Any
) -> Task:
    """Create a task owned by ``owner``; ``completed_at`` follows the status.

    ``list_id`` and ``labels`` (label ids) must be ``owner``'s: the serializer
    checks them, and PostgreSQL refuses another owner's. A list or label deleted
    meanwhile raises :class:`ReferenceGone`. Instead of ``owner``: ``owner_id``
    and ``owner_check``, a condition on the owner (a folded user check) that the
    statement writing the task holds; :class:`OwnerRefused` if it did not.
    """
    labels = sorted(set(fields.pop("labels", None) or ()), key=str)
    status = fields.get("status", TaskStatus.PENDING)
    fields["completed_at"] = completion_time_for(status, None)
    task = Task(**({} if owner is None else {"owner": owner}), **fields)
    # A list or label deleted meanwhile fails the composite foreign keys at the
    # end of the statement, which ends a caller's transaction on PostgreSQL: a
    # caller that goes on after ReferenceGone keeps its own with a savepoint.
    nested = connection.in_atomic_block and (labels or task.list_id is not None)
    try:
        with transaction.atomic() if nested else contextlib.nullcontext():
            _insert(task, labels, owner_check)
    except IntegrityError:
        raise ReferenceGone from None
    task.label_ids = _joined(labels)  # type: ignore[attr-defined]
    return task


# The statements are put together from identifiers and "%s" placeholders only;
# every value travels as a parameter. PostgreSQL runs each as ONE statement, its
# steps joined by WITH; SQLite runs the same steps one after the other in a
# transaction (it has no INSERT, UPDATE or DELETE in a WITH, and runs one writer
# at a time anyway).
_FIELD: dict[str, Field[Any, Any]] = {
    field.attname: field for field in Task._meta.concrete_fields
}
_COLUMN = {name: str(field.column) for name, field in _FIELD.items()}
_ATTNAMES = list(_FIELD)
_COLUMNS = [_COLUMN[name] for name in _ATTNAMES]
# seq: the one-row source of the change number, a WITH of the statement or a
# subquery of the number claimed just before.
_INSERT_SQL = """
INSERT INTO todos_task ({columns}) SELECT {values} FROM {seq}
RETURNING id, owner_id, {returned}
"""
_INSERT_WITH_SQL = """
WITH seq AS ({claim}),
new AS ({insert}){links}
SELECT {returned} FROM new
"""
_LINKS_SQL = """,
links AS (
    INSERT INTO todos_tasklabel (owner_id, task_id, label_id)
    SELECT new.owner_id, new.id, label FROM new, unnest(%s::uuid[]) AS label
)"""
_CLAIMED = "(SELECT %s AS last_seq) AS seq"
_CHECKED = "SELECT %s, 1, 0 WHERE {}"
_CHECK_SQL = "SELECT 1 WHERE {}"


def _insert(task: Task, labels: Sequence[Any], check: Condition | None) -> None:
    """INSERT ``task`` and its label links, its change number claimed first, if
    ``check`` holds; the columns the database fills in are read back into ``task``."""
    columns, values, params = [], [], []
    returned: list[str] = []
    for field in Task._meta.concrete_fields:
        value = getattr(task, field.attname)
        if field.attname == "change_seq":
            columns.append(_COLUMN[field.attname])
            values.append("seq.last_seq")
            returned.append(field.attname)
        elif isinstance(value, DatabaseDefault):
            returned.append(field.attname)
        else:
            columns.append(_COLUMN[field.attname])
            values.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    parts = {
        "columns": ", ".join(columns),
        "values": ", ".join(values),
        "returned": ", ".join(_COLUMN[name] for name in returned),
    }
    if connection.vendor == "postgresql":
        owner = _FIELD["owner_id"].get_db_prep_save(task.owner_id, connection)
        # No claim where the check fails, and so no task: the statement writes
        # nothing and answers no row.
        source = "VALUES (%s, 1, 0)" if check is None else _CHECKED.format(check.sql)
        sql = _INSERT_WITH_SQL.format(
            claim=claim_sql(source),
            insert=_INSERT_SQL.format(seq="seq", **parts),
            links=_LINKS_SQL if labels else "",
            returned=parts["returned"],
        )
        checked = [] if check is None else check.params
        params = [owner, *checked, *params, *([list(labels)] if labels else [])]
        row = _fetch(connection, sql, params)
    else:
        with transaction.atomic(savepoint=False):
            # Checked in the transaction that writes; refused after it, so that
            # the refusal does not break a caller's transaction.
            row = None
            if check is None or _fetch(
                connection, _CHECK_SQL.format(check.sql), check.params
            ):
                seq = claim_change_seq(task.owner_id)
                sql = _INSERT_SQL.format(seq=_CLAIMED, **parts)
                row = _fetch(connection, sql, [*params, seq])[2:]
                _link_labels(task, set(labels))
    if row is None:
        raise OwnerRefused
    if check is not None:
        check.matched()
    for name, value in zip(
        returned, _converted(connection, returned, row), strict=True
    ):
        setattr(task, name, value)
    task._state.adding = False
    task._state.db = connection.alias


def _fetch(db: Any, sql: str, params: Sequence[Any]) -> Any:
    """The first row ``sql`` answers, or None."""
    with statement_cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _converted(db: Any, names: Sequence[str], values: Sequence[Any]) -> list[Any]:
    """Column values as the ORM reads them: SQLite's text dates and hex UUIDs
    converted. PostgreSQL's adapters already give those types, and Django has
    no converter for these columns there (tests/todos/test_services.py)."""
    if db.vendor == "postgresql":
        return list(values)
    converted = []
    for name, value in zip(names, values, strict=True):
        col = _FIELD[name].get_col(Task._meta.db_table)
        for convert in db.ops.get_db_converters(col) + col.get_db_converters(db):
            value = convert(value, col, db)
        converted.append(value)
    return converted


def _joined(ids: Any) -> str:
    return ",".join(sorted(str(i) for i in ids))


def _link_labels(task: Task, wanted: set[Any]) -> None:
    TaskLabel.objects.bulk_create(
        TaskLabel(owner_id=task.owner_id, task_id=task.pk, label_id=label_id)
        for label_id in sorted(wanted, key=str)
    )


def task_labels(task: Task) -> list[str]:
    """The ids of the task's labels as text, sorted (the representation's order)."""
    if not hasattr(task, "label_ids"):  # not read with TaskViewSet's annotation
        ids = TaskLabel.objects.filter(task=task).values_list("label_id", flat=True)
        return sorted(str(i) for i in ids)
    return label_id_list(task.label_ids)


def label_id_list(joined: str | None) -> list[str]:
    """Label ids as the page query reads them (todos.expressions.TaskLabelIds)."""
    if not joined:
        return []
    ids = joined.split(",")
    if len(ids[0]) == 32:  # SQLite stores UUIDs as 32 hex digits
        ids = [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in ids]
        ids.sort()
    return ids


def task_update(
    *, task: Task, changes: dict[str, Any], expected_version: int | None = None
) -> Task:
    """Apply ``changes`` (only those fields) to ``task`` and return it, current.

    Raises :class:`VersionMismatch` when ``expected_version`` is given and the
    stored row is at another version, and :class:`TaskGone` if it was deleted.
    ``changes`` may hold ``list_id`` and ``labels`` (the whole new set of label
    ids); a list or label deleted meanwhile raises :class:`ReferenceGone`.
    """
    requested = changes
    changes = _without_unchanged_references(task, changes)
    if "labels" in changes or "list_id" in changes:
        return _task_update_locked(
            task=task, changes=changes, expected_version=expected_version
        )
    if expected_version is not None and task.version != expected_version:
        raise VersionMismatch
    for _ in range(_MAX_ATTEMPTS):
        values = _values_for(task, changes)
        if not values:
            return task
        values |= next_revision(task.version)
        # No savepoint: an error ends the caller's transaction on PostgreSQL anyway.
        with transaction.atomic(savepoint=False):
            # Claimed first, in the write's transaction: the feed's order is the
            # order of the owner's commits (todos.models.claim_change_seq).
            seq = claim_change_seq(task.owner_id)
            written = Task.objects.filter(pk=task.pk, version=task.version).update(
                **values, change_seq=seq
            )
        if written:
            task.change_seq = seq
            for name, value in values.items():
                setattr(task, name, value)
            return task
        if expected_version is not None:
            raise VersionMismatch
        fresh = Task.objects.filter(pk=task.pk).first()
        if fresh is None:
            raise TaskGone
        if requested is not changes:
            # The labels or list left out as unchanged may have moved meanwhile.
            return _task_update_locked(
                task=fresh, changes=requested, expected_version=None
            )
        task = fresh
    raise VersionMismatch  # pragma: no cover - needs five writers racing at once


def _without_unchanged_references(
    task: Task, changes: dict[str, Any]
) -> dict[str, Any]:
    """``changes`` less a ``labels`` or ``list_id`` the task (as read) already has.

    A PUT always sends both; when they do not change, the update stays the one
    version-guarded UPDATE (the guard also covers labels: changing them moves the
    version).
    """
    drop = set()
    if "list_id" in changes and changes["list_id"] == task.list_id:
        drop.add("list_id")
    if (
        "labels" in changes
        and hasattr(task, "label_ids")
        and sorted(str(i) for i in changes["labels"]) == task_labels(task)
    ):
        drop.add("labels")
    if not drop:
        return changes
    return {k: v for k, v in changes.items() if k not in drop}


def _task_update_locked(
    *, task: Task, changes: dict[str, Any], expected_version: int | None
) -> Task:
    """``task_update`` for changes of the task's labels or list, row locked.

    The label links are rows of their own: they and the version move together in
    one transaction, so an ETag names one set of labels.
    """
    changes = dict(changes)
    labels = changes.pop("labels", None)
    try:
        with transaction.atomic():
            # Claimed before the row is locked, the order every writer takes (a
            # writer holding the counter and waiting for this row would deadlock).
            seq = claim_change_seq(task.owner_id)
            fresh = Task.objects.select_for_update().filter(pk=task.pk).first()
            if fresh is None:
                raise TaskGone
            if expected_version is not None and fresh.version != expected_version:
                raise VersionMismatch
            values = _values_for(fresh, changes)
            if "list_id" in values:
                # Last in the list it joins, where its old place may be taken.
                values["position"] = fresh_positions(1)[0]
            current = set(
                TaskLabel.objects.filter(task=fresh).values_list("label_id", flat=True)
            )
            wanted = current if labels is None else set(labels)
            if not values and wanted == current:
                fresh.label_ids = _joined(current)  # type: ignore[attr-defined]
                return fresh
            if wanted != current:
                TaskLabel.objects.filter(
                    task=fresh, label_id__in=current - wanted
                ).delete()
                _link_labels(fresh, wanted - current)
            values |= next_revision(fresh.version)
            values["change_seq"] = seq
            Task.objects.filter(pk=fresh.pk).update(**values)
    except IntegrityError:
        raise ReferenceGone from None
    for name, value in values.items():
        setattr(fresh, name, value)
    fresh.label_ids = _joined(wanted)  # type: ignore[attr-defined]
    return fresh


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


Versions = Collection[int] | None


class Condition(Protocol):
    """A ``WHERE``, its parameters bound, and the database to run it on: what a
    view that scopes rows compiled once (``api.scoping.RowCondition``). The one
    task of a write, by the columns of ``todos_task`` alone; or the owner's user
    check, which a create's statement holds."""

    @property
    def sql(self) -> str: ...
    @property
    def params(self) -> list[Any]: ...
    @property
    def db(self) -> str: ...
    def matched(self) -> None:
        """Called once a statement has read (or written) through the condition."""


# The rows a one-statement write reads and writes: a queryset, or its condition.
TaskRows = QuerySet[Task] | Condition


def task_update_one(
    *,
    rows: TaskRows,
    changes: dict[str, Any],
    versions: Versions = None,
    when: dict[str, Any] | None = None,
) -> Task:
    """:func:`task_update` of the one task of ``rows``, which need not be read first.

    ``rows`` is the owner's queryset narrowed to the task (the view's lookup), or
    its condition (:class:`Condition`).
    ``versions``: those the task may be at (If-Match), ``None`` for any. ``when``:
    field values the task must have for anything to change (reopen: completed);
    otherwise it is returned as it is. Raises what :func:`task_update` raises.
    """
    references: dict[str, Any] = {
        k: changes[k] for k in ("list_id", "labels") if k in changes
    }
    fields = {k: v for k, v in changes.items() if k not in references}
    for _ in range(_MAX_ATTEMPTS):
        written, task = _update(rows, fields, versions, when or {}, references)
        if written:
            return task
        if versions is not None and task.version not in versions:
            raise VersionMismatch
        if _without_unchanged_references(task, references):
            # A new list or new labels: the locked path, from the row just read.
            expected = None if versions is None else task.version
            return task_update(task=task, changes=changes, expected_version=expected)
        if not _has(task, when or {}) or not _values_for(task, fields):
            return task
        # The row moved between the statement's read and its write: again.
    raise VersionMismatch  # pragma: no cover - needs five writers racing at once


def task_delete_one(*, rows: TaskRows, versions: Versions = None) -> None:
    """:func:`task_delete` of the one task of ``rows``, not read first.

    ``versions`` as for :func:`task_update_one`. Raises :class:`VersionMismatch`
    or :class:`TaskGone`.
    """
    for _ in range(_MAX_ATTEMPTS):
        version, deleted = _delete(rows, versions)
        if deleted:
            return
        if versions is not None and version not in versions:
            raise VersionMismatch
        # Changed or deleted between the statement's read and its write: again.
    raise VersionMismatch  # pragma: no cover - needs five writers racing at once


def _has(task: Task, values: dict[str, Any]) -> bool:
    return all(getattr(task, name) == value for name, value in values.items())


# snap: the row as the statement reads it. seq: the owner's next change number,
# claimed only if there is something to write, and before the row is locked (the
# UPDATE locks it only once seq has given its row). upd: the write, only if the
# row is still the one read (a concurrent writer moves its version). Then the row
# as written, or as read if nothing was: the caller tells why from it.
_CLAIM_FROM_SNAP = "SELECT snap.owner_id, 1, 0 FROM {snap} WHERE {guard}"
_UPDATE_SQL = """
UPDATE todos_task SET {sets} FROM {snap}, {seq}
WHERE todos_task.id = snap.id AND todos_task.version = snap.version
"""
_UPDATE_WITH_SQL = """
WITH snap AS ({snap}),
seq AS ({claim}),
upd AS ({update} RETURNING {returning})
SELECT TRUE, {written}, snap.label_ids FROM upd, snap WHERE upd.id = snap.id
UNION ALL
SELECT FALSE, {read}, snap.label_ids FROM snap WHERE NOT EXISTS (SELECT FROM upd)
"""
_RESULT_COLUMNS = {
    "returning": ", ".join(f"todos_task.{column}" for column in _COLUMNS),
    "written": ", ".join(f"upd.{column}" for column in _COLUMNS),
    "read": ", ".join(f"snap.{column}" for column in _COLUMNS),
}
# The label links go with the task (ON DELETE CASCADE, migration 0005; SQLite:
# Django's collector); the tombstone carries the deletion to the changes feed.
_DELETE_WITH_SQL = """
WITH snap AS ({snap}),
seq AS ({claim}),
gone AS (
    DELETE FROM todos_task USING snap, seq
    WHERE todos_task.id = snap.id AND {recheck}
    RETURNING todos_task.id, todos_task.owner_id
),
tomb AS (
    INSERT INTO todos_tasktombstone (task_id, owner_id, change_seq)
    SELECT gone.id, gone.owner_id, seq.last_seq FROM gone, seq RETURNING 1
)
SELECT snap.version, EXISTS (SELECT FROM tomb) FROM snap
"""
_SNAP_SQL = "SELECT {columns} FROM todos_task WHERE {where}"
# As todos.expressions.TaskLabelIds writes with_label_ids(): on PostgreSQL the
# column its triggers keep (migration 0009), as of the statement's start.
_LABEL_IDS_SQL = {
    "postgresql": "todos_task.label_ids",
    "sqlite": "(SELECT group_concat(label_id, ',') FROM ({links}))",
}
_LINKED_IDS = (
    "SELECT label_id FROM todos_tasklabel WHERE task_id = todos_task.id "
    "ORDER BY label_id"
)


def _update(
    rows: TaskRows,
    fields: dict[str, Any],
    versions: Versions,
    when: dict[str, Any],
    references: dict[str, Any],
) -> tuple[bool, Task]:
    """Read the task of ``rows``; if it is at one of ``versions``, has ``when``'s
    values and ``references``' list and labels, and differs in any of ``fields``,
    claim a change number and write ``fields``. Whether it wrote, and the task as
    written, or as read."""
    db = connections[rows.db]
    snap, snap_params = _snapshot(rows, *_ATTNAMES, "label_ids")
    guard, guard_params = _guard(fields, versions, when, references, db)
    sets, sets_params = _sets(fields, db)
    claim = claim_sql(_CLAIM_FROM_SNAP.format(snap="{snap}", guard=guard))
    if db.vendor == "postgresql":
        sql = _UPDATE_WITH_SQL.format(
            snap=snap,
            claim=claim.format(snap="snap"),
            update=_UPDATE_SQL.format(sets=sets, snap="snap", seq="seq"),
            **_RESULT_COLUMNS,
        )
        row = _fetch(db, sql, [*snap_params, *guard_params, *sets_params])
        if row is None:
            raise TaskGone
        _matched(rows)
        written, row = row[0], row[1:]
    else:
        subquery = f"({snap}) AS snap"
        with transaction.atomic(using=rows.db, savepoint=False):
            seq = _fetch(db, claim.format(snap=subquery), snap_params + guard_params)
            if seq is not None:
                sql = _UPDATE_SQL.format(sets=sets, snap=subquery, seq=_CLAIMED)
                _fetch(db, sql, [*sets_params, *snap_params, seq[0]])
            row = _fetch(db, snap, snap_params)
        if row is None:
            raise TaskGone
        _matched(rows)
        written = seq is not None
    task = Task.from_db(rows.db, _ATTNAMES, _converted(db, _ATTNAMES, row[:-1]))
    task.label_ids = row[-1]  # type: ignore[attr-defined]
    return bool(written), task


def _guard(
    fields: dict[str, Any],
    versions: Versions,
    when: dict[str, Any],
    references: dict[str, Any],
    db: Any,
) -> tuple[str, list[Any]]:
    """What the row read must be for the write: at one of ``versions``, with
    ``when``'s values and ``references``' list and labels, and different in one
    of ``fields`` at least."""
    params: list[Any] = []
    guard = [_in_versions("snap.version", versions, params)]
    for column, value in _prepared(when, db):
        guard.append(f"snap.{column} = %s")
        params.append(value)
    for column, value in _prepared(references, db, exclude="labels"):
        guard.append(f"snap.{column} IS NOT DISTINCT FROM %s")
        params.append(value)
    if "labels" in references:
        # As the database joins them: its own spelling of the ids, in order.
        label_id = Label._meta.pk
        ids = (label_id.get_db_prep_value(i, db) for i in set(references["labels"]))
        guard.append("COALESCE(snap.label_ids, '') = %s")
        params.append(",".join(sorted(str(i) for i in ids)))
    values = _prepared(fields, db)
    differs = [f"snap.{column} IS DISTINCT FROM %s" for column, _ in values]
    guard.append(f"({' OR '.join(differs) or 'FALSE'})")
    params += [value for _, value in values]
    return " AND ".join(guard), params


def _sets(fields: dict[str, Any], db: Any) -> tuple[str, list[Any]]:
    """The SET of the write: ``fields``, ``completed_at`` in step with a status,
    the next revision (``next_revision``), the number claimed."""
    values = _prepared(fields, db)
    sets = [f"{column} = %s" for column, _ in values]
    params = [value for _, value in values]
    now = _FIELD["updated_at"].get_db_prep_save(timezone.now(), db)
    if "status" in fields:
        # completion_time_for(), in SQL: kept, stamped or cleared.
        if fields["status"] == TaskStatus.COMPLETED:
            sets.append("completed_at = COALESCE(snap.completed_at, %s)")
            params.append(now)
        else:
            sets.append("completed_at = NULL")
    sets += ["version = snap.version + 1", "updated_at = %s"]
    sets.append("change_seq = seq.last_seq")
    params.append(now)
    return ", ".join(sets), params


def _delete(rows: TaskRows, versions: Versions) -> tuple[int, bool]:
    """Read the task of ``rows``; if it is at one of ``versions``, claim a change
    number, delete it and leave its tombstone. Its version, and whether it went."""
    db = connections[rows.db]
    snap, snap_params = _snapshot(rows, "id", "owner_id", "version")
    guard_params: list[Any] = []
    guard = _in_versions("snap.version", versions, guard_params)
    claim = claim_sql(_CLAIM_FROM_SNAP.format(snap="{snap}", guard=guard))
    if db.vendor == "postgresql":
        sql = _DELETE_WITH_SQL.format(
            snap=snap,
            claim=claim.format(snap="snap"),
            recheck=_in_versions("todos_task.version", versions, guard_params),
        )
        row = _fetch(db, sql, [*snap_params, *guard_params])
        if row is None:
            raise TaskGone
        _matched(rows)
        return row[0], bool(row[1])
    with transaction.atomic(using=rows.db, savepoint=False):
        subquery = f"({snap}) AS snap"
        seq = _fetch(db, claim.format(snap=subquery), [*snap_params, *guard_params])
        row = _fetch(db, snap, snap_params)
        if seq is not None:
            pk, owner_id = _converted(db, ["id", "owner_id"], row[:2])
            TaskTombstone.objects.using(rows.db).create(
                task_id=pk, owner_id=owner_id, change_seq=seq[0]
            )
            QuerySet.delete(Task.objects.using(rows.db).filter(pk=pk))
    if row is None:
        raise TaskGone
    _matched(rows)
    return row[2], seq is not None


def _matched(rows: TaskRows) -> None:
    """The statement read the task of ``rows``: tell a condition (what it checks
    beside the task, such as a folded user check, held)."""
    if not isinstance(rows, QuerySet):
        rows.matched()


def _snapshot(rows: TaskRows, *columns: str) -> tuple[str, list[Any]]:
    """The SELECT of ``columns`` (``label_ids`` too) of ``rows``: what the
    statement reads first. Raises :class:`TaskGone` if ``rows`` is empty by its
    very conditions."""
    db = connections[rows.db]
    if not isinstance(rows, QuerySet):
        return _SNAP_SQL.format(
            columns=_snapshot_columns(columns, db), where=rows.sql
        ), list(rows.params)
    query = rows.query
    if query.count_active_tables() != 1 or query.is_sliced or query.combinator:
        # Not one table's rows by a WHERE alone: Django writes the whole SELECT.
        queryset: QuerySet[Task] = rows
        if "label_ids" in columns and "label_ids" not in query.annotations:
            queryset = queryset.with_label_ids()  # type: ignore[attr-defined]
        compiler = queryset.order_by().values_list(*columns).query.get_compiler(rows.db)
        sql, params = compiler.as_sql()
        return sql, list(params)
    # The usual case, and far cheaper than compiling the SELECT: only the WHERE.
    try:
        where, params = query.get_compiler(rows.db).compile(query.where)
    except EmptyResultSet:
        raise TaskGone from None
    except FullResultSet:
        where, params = "TRUE", []
    return _SNAP_SQL.format(columns=_snapshot_columns(columns, db), where=where), list(
        params
    )


def _snapshot_columns(columns: Sequence[str], db: Any) -> str:
    return ", ".join(
        f"{_LABEL_IDS_SQL[db.vendor].format(links=_LINKED_IDS)} AS label_ids"
        if column == "label_ids"
        else f"todos_task.{_COLUMN[column]}"
        for column in columns
    )


def _in_versions(column: str, versions: Versions, params: list[Any]) -> str:
    if versions is None:
        return "TRUE"
    if not versions:
        return "FALSE"
    params.extend(sorted(versions))
    return f"{column} IN ({', '.join(['%s'] * len(versions))})"


def _prepared(
    values: dict[str, Any], db: Any, exclude: str = ""
) -> list[tuple[str, Any]]:
    """``values`` of Task fields (by attname) as (column, value to send) pairs."""
    return [
        (_COLUMN[name], _FIELD[name].get_db_prep_save(value, db))
        for name, value in values.items()
        if name != exclude
    ]


def tasks_complete(*, tasks: QuerySet[Task]) -> int:
    """Complete every open task in ``tasks``; return how many changed."""
    return tasks.filter(OPEN).update(
        status=TaskStatus.COMPLETED,
        completed_at=completion_time_for(TaskStatus.COMPLETED, None),
    )


def tasks_reopen(*, tasks: QuerySet[Task]) -> int:
    """Move every completed task in ``tasks`` back to pending; return how many."""
    return tasks.filter(status=TaskStatus.COMPLETED).update(
        status=TaskStatus.PENDING,
        completed_at=completion_time_for(TaskStatus.PENDING, None),
    )


# --- lists and labels ---------------------------------------------------------------

MAX_LISTS_PER_USER = 500
MAX_LABELS_PER_USER = 500


class NameTaken(Exception):
    """The owner already has a list (or label) of this name, in any letter case."""


class LimitReached(Exception):
    """The owner has as many lists (or labels) as one user may have."""


def name_taken_in(rows: QuerySet[Any], name: str) -> bool:
    """Whether ``rows`` hold ``name`` in any letter case (as the unique key reads)."""
    return (
        rows.alias(lower_name=Lower("name"))
        .filter(lower_name=Lower(Value(name)))
        .exists()
    )


def _name_taken(model: type[TaskList] | type[Label], owner: Any, name: str) -> bool:
    return name_taken_in(model.objects.filter(owner=owner), name)


def _lock_owner(owner: User) -> None:
    """Serialise one owner's creations (positions, the count) on their user row."""
    User.objects.select_for_update().filter(pk=owner.pk).values_list("pk").first()


def next_list_position(*, owner: User) -> int:
    """The position after ``owner``'s last list (call with the owner row locked)."""
    last = TaskList.objects.filter(owner=owner).aggregate(last=Max("position"))
    return int(last["last"] or 0) + POSITION_GAP


@transaction.atomic
def task_list_create(*, owner: User, name: str, color: str | None = None) -> TaskList:
    """Create a list at the end of ``owner``'s lists.

    Raises :class:`NameTaken` or :class:`LimitReached`.
    """
    _lock_owner(owner)
    if TaskList.objects.filter(owner=owner).count() >= MAX_LISTS_PER_USER:
        raise LimitReached
    position = next_list_position(owner=owner)
    try:
        with transaction.atomic():
            return TaskList.objects.create(
                owner=owner, name=name, color=color, position=position
            )
    except IntegrityError:
        if _name_taken(TaskList, owner, name):
            raise NameTaken from None
        raise


@transaction.atomic
def label_create(*, owner: User, name: str, color: str | None = None) -> Label:
    """Create a label. Raises :class:`NameTaken` or :class:`LimitReached`."""
    _lock_owner(owner)
    if Label.objects.filter(owner=owner).count() >= MAX_LABELS_PER_USER:
        raise LimitReached
    try:
        with transaction.atomic():
            return Label.objects.create(owner=owner, name=name, color=color)
    except IntegrityError:
        if _name_taken(Label, owner, name):
            raise NameTaken from None
        raise


def named_update(
    *,
    obj: TaskList | Label,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> TaskList | Label:
    """Change a list's or a label's name or colour; the version moves by one.

    Raises :class:`VersionMismatch`, :class:`NameTaken`, or :class:`TaskGone` if
    the row was deleted meanwhile.
    """
    model = type(obj)
    try:
        with transaction.atomic():
            fresh = model.objects.select_for_update().filter(pk=obj.pk).first()
            if fresh is None:
                raise TaskGone
            if expected_version is not None and fresh.version != expected_version:
                raise VersionMismatch
            values = {k: v for k, v in changes.items() if getattr(fresh, k) != v}
            if not values:
                return fresh
            for name, value in values.items():
                setattr(fresh, name, value)
            fresh.version += 1
            fresh.updated_at = timezone.now()
            with transaction.atomic():
                fresh.save(update_fields=[*values, "version", "updated_at"])
    except IntegrityError:
        if "name" in changes and _name_taken(model, obj.owner_id, changes["name"]):
            raise NameTaken from None
        raise
    return fresh


class TasksOfDeletedList:
    """What ``?tasks=`` may ask for when a list is deleted."""

    MOVE_TO_INBOX = "move_to_inbox"
    DELETE = "delete"
    CHOICES = (MOVE_TO_INBOX, DELETE)


@transaction.atomic
def task_list_delete(
    *, task_list: TaskList, tasks: str, expected_version: int | None = None
) -> int:
    """Delete the list; its tasks move to the inbox or are deleted, as ``tasks`` says.

    The list row is locked first: a task being put into the list at the same time
    either lands before (and is moved or deleted with the others) or fails its
    foreign key check after. Returns how many tasks moved or were deleted.
    """
    fresh = TaskList.objects.select_for_update().filter(pk=task_list.pk).first()
    if fresh is None:
        raise TaskGone
    if expected_version is not None and fresh.version != expected_version:
        raise VersionMismatch
    members = Task.objects.filter(list=fresh)
    if tasks == TasksOfDeletedList.DELETE:
        affected = members.delete()[1].get(Task._meta.label, 0)
    else:
        moved = list(members.order_by("position"))
        # Last in the inbox, in their order: their places in the list may be
        # taken there.
        for task, position in zip(moved, fresh_positions(len(moved)), strict=True):
            task.list_id, task.position = None, position
            for name, value in next_revision(task.version).items():
                setattr(task, name, value)
        Task.objects.bulk_update(
            moved, ["list", "position", "version", "updated_at"], batch_size=500
        )
        affected = len(moved)
    fresh.delete()
    return affected


@transaction.atomic
def label_delete(*, label: Label, expected_version: int | None = None) -> None:
    """Delete the label and take it off every task (their versions move)."""
    fresh = Label.objects.select_for_update().filter(pk=label.pk).first()
    if fresh is None:
        raise TaskGone
    if expected_version is not None and fresh.version != expected_version:
        raise VersionMismatch
    # The tasks' representations change, so their versions (ETags) and change
    # sequence numbers move: Label's QuerySet.delete does that for every path.
    fresh.delete()


# --- manual order -------------------------------------------------------------------


class MoveTargetInvalid(Exception):
    """``before``/``after`` names no other task of the moving task's list."""


class MoveTo:
    TOP = "top"
    BOTTOM = "bottom"
    CHOICES = (TOP, BOTTOM)


def fresh_positions(count: int) -> list[int]:
    """``count`` positions, ascending, after every position handed out so far.

    Unique across all lists: safe for any task in any list. PostgreSQL takes them
    from the sequence behind new tasks' default (no lock); SQLite, which writes
    one transaction at a time, from the largest position stored.
    """
    if count == 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval('todos_task_position_seq') FROM generate_series(1, %s)",
                [count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT COALESCE(MAX(position), 0) FROM todos_task WHERE position <> %s",
            [UNPLACED_POSITION],
        )
        (last,) = cursor.fetchone() or (0,)
    return [int(last) + POSITION_GAP * (n + 1) for n in range(count)]


def _siblings(task: Task) -> QuerySet[Task]:
    """The other tasks of ``task``'s list, or of its owner's inbox."""
    rows = Task.objects.filter(owner_id=task.owner_id).exclude(pk=task.pk)
    if task.list_id is None:
        return rows.filter(list__isnull=True)
    return rows.filter(list_id=task.list_id)


def _lock_container(task: Task) -> None:
    """Serialise the moves within one list (or inbox) on the list's (user's) row.

    FOR NO KEY UPDATE: it does not block the key-share locks that inserting tasks
    take on the same row for their foreign keys.
    """
    if task.list_id is None:
        rows: QuerySet[Any] = User.objects.filter(pk=task.owner_id)
    else:
        rows = TaskList.objects.filter(pk=task.list_id)
    rows.select_for_update(no_key=True).values_list("pk").first()


def _renumber(rows: list[Any], fresh: Callable[[int], list[int]]) -> None:
    """Spread the positions of ``rows`` (one list's) evenly again, in their order.

    Runs when two neighbours have no integer left between them (about 20
    halvings of the gap at the same spot). Fresh positions are larger than any
    stored, so no intermediate state repeats one; the order, and so no row's
    representation, changes.
    """
    rows.sort(key=lambda row: row.position)
    for row, position in zip(rows, fresh(len(rows)), strict=True):
        row.position = position
    if rows:
        type(rows[0]).objects.bulk_update(rows, ["position"], batch_size=500)


def _place(
    obj: Any,
    siblings: QuerySet[Any],
    *,
    before: Any,
    after: Any,
    to: str | None,
    fresh: Callable[[int], list[int]],
) -> int | None:
    """The position that puts ``obj`` where asked among ``siblings`` (the others of
    its list); None if it is there already. Raises :class:`MoveTargetInvalid`."""
    if to == MoveTo.TOP:
        first = siblings.order_by("position").values_list("position", flat=True)[:1]
        if not first or obj.position < first[0]:
            return None
        return int(first[0]) - POSITION_GAP
    if to == MoveTo.BOTTOM:
        last = siblings.order_by("-position").values_list("position", flat=True)[:1]
        if not last or obj.position > last[0]:
            return None
        return fresh(1)[0]
    target_id = before if before is not None else after
    target = siblings.filter(pk=target_id).values_list("position", flat=True)
    if not target:
        raise MoveTargetInvalid
    anchor = int(target[0])
    if before is not None:
        prev = siblings.filter(position__lt=anchor).order_by("-position")
        low = prev.values_list("position", flat=True)[:1]
        lo, hi = (int(low[0]) if low else anchor - 2 * POSITION_GAP), anchor
    else:
        nxt = siblings.filter(position__gt=anchor).order_by("position")
        high = nxt.values_list("position", flat=True)[:1]
        if not high:
            return None if obj.position > anchor else fresh(1)[0]
        lo, hi = anchor, int(high[0])
    if lo < obj.position < hi:
        return None
    if hi - lo < 2:
        _renumber([*siblings, obj], fresh)
        return _place(obj, siblings, before=before, after=after, to=to, fresh=fresh)
    return (lo + hi) // 2


@transaction.atomic
def task_move(
    *,
    task: Task,
    before: Any = None,
    after: Any = None,
    to: str | None = None,
    expected_version: int | None = None,
) -> Task:
    """Put ``task`` just before or after another task of its list, or at one end.

    Exactly one of ``before``, ``after`` (task ids) or ``to`` (``top``/``bottom``).
    One row is written (the moving task's position and version), except when the
    list's gaps have run out at that spot and it is renumbered first. Moves in one
    list are serialised on a lock of the list's row (the user's, for the inbox),
    and the unique keys on (list, position) make a shared position impossible.
    Raises :class:`MoveTargetInvalid`, :class:`VersionMismatch`, :class:`TaskGone`.
    """
    # The change number first, then the row: the order every writer takes.
    seq = claim_change_seq(task.owner_id)
    fresh = Task.objects.select_for_update().filter(pk=task.pk).first()
    if fresh is None:
        raise TaskGone
    if expected_version is not None and fresh.version != expected_version:
        raise VersionMismatch
    _lock_container(fresh)
    position = _place(
        fresh,
        _siblings(fresh),
        before=before,
        after=after,
        to=to,
        fresh=fresh_positions,
    )
    if position is None:
        return fresh
    values = {"position": position, **next_revision(fresh.version), "change_seq": seq}
    Task.objects.filter(pk=fresh.pk).update(**values)
    for name, value in values.items():
        setattr(fresh, name, value)
    return fresh


@transaction.atomic
def task_list_move(
    *,
    task_list: TaskList,
    before: Any = None,
    after: Any = None,
    to: str | None = None,
    expected_version: int | None = None,
) -> TaskList:
    """Put the list before or after another of its owner's lists, or at one end.

    As :func:`task_move`, among the owner's lists; serialised on the owner's row,
    as list creation is. Raises :class:`MoveTargetInvalid`,
    :class:`VersionMismatch`, :class:`TaskGone`.
    """
    owner_id = task_list.owner_id
    User.objects.select_for_update(no_key=True).filter(pk=owner_id).values_list(
        "pk"
    ).first()
    fresh = TaskList.objects.filter(pk=task_list.pk).first()
    if fresh is None:
        raise TaskGone
    if expected_version is not None and fresh.version != expected_version:
        raise VersionMismatch

    def after_last(count: int) -> list[int]:
        last = TaskList.objects.filter(owner_id=owner_id).aggregate(m=Max("position"))
        start = int(last["m"] or 0)
        return [start + POSITION_GAP * (n + 1) for n in range(count)]

    siblings = TaskList.objects.filter(owner_id=owner_id).exclude(pk=fresh.pk)
    position = _place(
        fresh, siblings, before=before, after=after, to=to, fresh=after_last
    )
    if position is None:
        return fresh
    fresh.position = position
    fresh.version += 1
    fresh.updated_at = timezone.now()
    fresh.save(update_fields=["position", "version", "updated_at"])
    return fresh
