"""Bulk loads into the task table on PostgreSQL: no indexes while loading, built after.

Keeping seven B-tree and two trigram indexes and the owner foreign key up to date row
by row costs several times the load itself; one sorted build per index at the end
does not, and the foreign key is checked with one join when it is added back. The
model's ``Meta.indexes`` are the source of truth for what gets built, so an index that
an interrupted load left missing is found and built again by the next one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from todos.models import Task

# Per statement (SET LOCAL): what one index build may sort in memory before it spills.
BUILD_MEMORY = "512MB"

FOREIGN_KEYS_SQL = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = %s::regclass AND contype = 'f'"
)


def index_statements() -> dict[str, str]:
    """The ``CREATE INDEX`` statement of every index the Task model declares."""
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return {
            index.name: str(index.create_sql(Task, editor))
            for index in Task._meta.indexes
        }


def missing_indexes() -> list[str]:
    """The names of the model's indexes that the database does not have."""
    with connection.cursor() as cursor:
        present = connection.introspection.get_constraints(cursor, Task._meta.db_table)
    return [index.name for index in Task._meta.indexes if index.name not in present]


def table_size_estimate() -> int:
    """The planner's estimate of the task table's rows (cheap; no count)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            [Task._meta.db_table],
        )
        (rows,) = cursor.fetchone() or (0,)
    return max(int(rows), 0)


@contextmanager
def without_indexes() -> Iterator[list[str]]:
    """Drop the model's indexes and the owner foreign key for a load in the block.

    Must run inside the caller's transaction: a failed load rolls the drops back with
    everything else. The foreign key is added back (and checked, in one join) when
    the block ends; the indexes are not: yields the names of those dropped, for
    :func:`build_indexes` to build, in the same transaction or after its commit.
    While the transaction is open the task table is locked, and so are the users
    (the foreign key's triggers live on both tables).
    """
    table = Task._meta.db_table
    absent = set(missing_indexes())
    dropped = [index.name for index in Task._meta.indexes if index.name not in absent]
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run while deferred checks (of a delete before the
        # load, say) are pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(FOREIGN_KEYS_SQL, [table])
        foreign_keys = cursor.fetchall()
        for name, _ in foreign_keys:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name in dropped:
            cursor.execute(f'DROP INDEX "{name}"')
    yield dropped
    with connection.cursor() as cursor:
        for name, definition in foreign_keys:
            cursor.execute(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            )


def build_indexes(
    names: list[str],
    *,
    workers: int,
    report: Callable[[str, float], None] | None = None,
) -> None:
    """Build the named model indexes; ``report(name, seconds)`` after each one.

    Inside a transaction (the caller's, or a test's) they are built one after another
    on this connection, where the uncommitted rows are. Outside one, ``workers``
    connections build them side by side, the slowest (the trigram indexes) first: a
    GIN build uses one core, so two of them, or one and the B-trees, share the
    machine. The first error is raised once every worker has stopped; what was built
    stays built, and what was not is found by :func:`missing_indexes` next time.
    """
    statements = index_statements()
    # Longest first: the trigram (GIN) builds take several times a B-tree's.
    ordered = sorted(names, key=lambda name: " USING gin " not in statements[name])
    if connection.in_atomic_block or workers <= 1 or len(ordered) <= 1:
        if connection.in_atomic_block:
            with connection.cursor() as cursor:
                # As ALTER TABLE, CREATE INDEX refuses to run while checks are pending.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name in ordered:
            _build(name, statements[name], report)
        return

    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for name in ordered:
        pending.put(name)
    errors: list[BaseException] = []

    def work() -> None:
        # Each thread gets a connection of its own from Django, closed on the way out.
        try:
            while not errors:
                try:
                    name = pending.get_nowait()
                except queue.Empty:
                    return
                _build(name, statements[name], report)
        except BaseException as error:  # re-raised by the caller, below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, name=f"index-build-{n}", daemon=True)
        for n in range(min(workers, len(ordered)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _build(
    name: str, statement: str, report: Callable[[str, float], None] | None
) -> None:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
        cursor.execute(statement)
    if report is not None:
        report(name, time.perf_counter() - started)
