"""Writing generated rows: PostgreSQL's COPY, or ``bulk_create`` elsewhere.

The few lists and labels go through ``bulk_create`` everywhere; the tasks (with
their list ids) and the task-label links are streamed with COPY on PostgreSQL.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from todos.models import Label, Task, TaskLabel, TaskList
from todos.seeding.generation import DAY, Link, ListedRow, Row, Shelf, utc_datetime
from todos.seeding.progress import Progress

COPY_SQL = (
    "COPY todos_task (id, owner_id, title, description, status, priority, due_at, "
    "completed_at, created_at, updated_at, version, list_id) FROM STDIN"
)
NULL = "\\N"  # COPY's text format for NULL
LINKS_COPY_SQL = "COPY todos_tasklabel (owner_id, task_id, label_id) FROM STDIN"


class CopyFormatter:
    """Rows as lines of PostgreSQL's COPY text format, in UTC.

    Formatting the timestamps from precomputed day and time-of-day strings is several
    times faster than ``datetime.isoformat()``, which matters at a million rows.
    """

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._times = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)
        ]
        self._epoch = datetime.date(1970, 1, 1).toordinal()

    def timestamp(self, seconds: int | None) -> str:
        if seconds is None:
            return NULL
        day, second = divmod(seconds, DAY)
        date = self._days.get(day)
        if date is None:
            date = datetime.date.fromordinal(self._epoch + day).isoformat()
            self._days[day] = date
        return f"{date} {self._times[second]}+00"

    def line(self, row: Row | ListedRow) -> str:
        """One task's line; a plain :data:`Row` (no list id) is an inbox task."""
        id_, owner, title, text, status, priority, due, done, created, updated = row[
            :10
        ]
        list_id = (len(row) > 10 and row[10]) or NULL  # type: ignore[misc]
        return (
            f"{id_}\t{owner}\t{_escape(title)}\t{_escape(text)}\t{status}\t{priority}\t"
            f"{self.timestamp(due)}\t{self.timestamp(done)}\t"
            f"{self.timestamp(created)}\t{self.timestamp(updated)}\t1\t{list_id}\n"
        )


def _escape(value: str) -> str:
    """Escape the characters COPY's text format gives a meaning to."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    return value


def _task(row: Row | ListedRow) -> Task:
    id_, owner, title, text, status, priority, due, done, created, updated = row[:10]
    list_id = row[10] if len(row) > 10 else None  # type: ignore[misc]
    return Task(
        id=uuid.UUID(id_),
        owner_id=uuid.UUID(owner),
        title=title,
        description=text,
        status=status,
        priority=priority,
        due_at=None if due is None else utc_datetime(due),
        completed_at=None if done is None else utc_datetime(done),
        created_at=utc_datetime(created),
        updated_at=utc_datetime(updated),
        version=1,
        list_id=None if list_id is None else uuid.UUID(list_id),
    )


def copy_tasks(
    rows: Iterator[Row | ListedRow], *, batch_size: int, progress: Progress
) -> None:
    """Insert ``rows`` with PostgreSQL's COPY on the default connection."""
    formatter = CopyFormatter()
    line = formatter.line
    done = 0
    # One COPY fed batch by batch, sent by psycopg's writer thread: the server
    # inserts a batch while Python formats the next, where a COPY per batch (or a
    # blocking write) would make each wait for the other.
    # (psycopg's own cursor: Django's debug wrapper takes no writer.)
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        with cursor.copy(COPY_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
            while batch := [line(row) for row in islice(rows, batch_size)]:
                copy.write("".join(batch))
                done += len(batch)
                progress.update(done)


def bulk_create_tasks(
    rows: Iterator[Row | ListedRow], *, batch_size: int, progress: Progress
) -> None:
    """Insert ``rows`` through the ORM: the path for databases without COPY."""
    done = 0
    while batch := [_task(row) for row in islice(rows, batch_size)]:
        Task.objects.bulk_create(batch)
        done += len(batch)
        progress.update(done)


def create_shelves(shelves: Sequence[Shelf]) -> None:
    """Create the users' lists and labels (a few per user: ``bulk_create`` will do)."""
    TaskList.objects.bulk_create(
        [
            TaskList(
                id=uuid.UUID(named.id),
                owner_id=uuid.UUID(shelf.owner_id),
                name=named.name,
                color=named.color,
                position=named.position,
            )
            for shelf in shelves
            for named in shelf.lists
        ],
        batch_size=1_000,
    )
    Label.objects.bulk_create(
        [
            Label(
                id=uuid.UUID(named.id),
                owner_id=uuid.UUID(shelf.owner_id),
                name=named.name,
                color=named.color,
            )
            for shelf in shelves
            for named in shelf.labels
        ],
        batch_size=1_000,
    )


def copy_links(links: Iterable[Link], *, batch_size: int) -> None:
    """Insert task-label links with COPY (after their tasks and labels)."""
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        with cursor.copy(LINKS_COPY_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
            batch: list[str] = []
            for owner, task, label in links:
                batch.append(f"{owner}\t{task}\t{label}\n")
                if len(batch) >= batch_size:
                    copy.write("".join(batch))
                    batch.clear()
            if batch:
                copy.write("".join(batch))


def bulk_create_links(links: Iterable[Link], *, batch_size: int) -> None:
    """Insert task-label links through the ORM: the path for databases without COPY."""
    it = iter(links)
    while batch := [
        TaskLabel(
            owner_id=uuid.UUID(owner),
            task_id=uuid.UUID(task),
            label_id=uuid.UUID(label),
        )
        for owner, task, label in islice(it, batch_size)
    ]:
        TaskLabel.objects.bulk_create(batch)
