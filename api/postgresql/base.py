"""Django's PostgreSQL backend: the C timestamptz loader, cheaper health checks.

Django registers a Python subclass of psycopg's ``TimestamptzLoader`` so that it can
pin the values' time zone, and psycopg only swaps in its compiled loader for its own
classes: every ``timestamptz`` of every row is then parsed by a regular expression in
Python (psycopg issue 1273, Django ticket 36960), which was about a tenth of a task
list's CPU. With ``USE_TZ`` and ``TIME_ZONE = "UTC"`` the pin changes nothing:
Django sets the session's TimeZone to UTC and the compiled loader then returns the
same aware UTC datetimes. In any other configuration this backend is Django's own.

With ``CONN_HEALTH_CHECKS``, Django sends ``SELECT 1`` before the first query of
every request, a round trip on the hot path. A connection that the server closed
(a terminated backend, a restart, a crash) has something to read: the server's
FATAL message or the end of the stream. So when the socket of an idle connection
has nothing to read, the connection is as alive as a ``SELECT 1`` would find it and
the check is skipped; otherwise Django's check runs as before. (The MySQL driver of
Go's database/sql checks a pooled connection the same way, a read that must find
nothing, before it reuses it.)

A psycopg cursor prepares its adapters on its first statement: a loader for each
column of the result and a dumper for each parameter, about 14 µs for a task's row
in a loop and 40 in a detail request. ``DatabaseWrapper.statement_cursor`` keeps one
cursor per connection for statements whose rows are fetched at once, so the hot
path's reads and writes prepare them once per connection (``api.postgresql.
statement_cursor`` gives any other backend's ``cursor()``).

Rows whose every column psycopg loads from PostgreSQL's binary form to the same
Python value as from its text form can be asked for in binary
(``DatabaseWrapper.reads_in_binary``, ``read_binary``): uuids and times cost the
server less to send and psycopg less to load than their text (about a seventh of a
task page query's CPU on either side, docs/performance.md).
"""

from __future__ import annotations

import contextlib
import datetime
import select
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.utils import CursorWrapper
from django.db.models import Field
from django.utils.asyncio import async_unsafe
from psycopg import adapt, pq
from psycopg.types.datetime import TimestamptzLoader

# What one statement can carry: the protocol counts parameters in 16 bits, and
# psycopg refuses a statement with more.
MAX_PARAMETERS = 65535

# Fields (by Django's internal type) whose column psycopg loads from the binary form
# to the same Python value as from the text form this backend reads. Not JSON, inet
# or cidr, for example: Django reads them as text, and a binary load would parse
# them. Times are among them with the compiled loader only (see the module).
BINARY_SAFE_FIELDS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "BooleanField",
        "CharField",
        "TextField",
        "SlugField",
        "EmailField",
        "URLField",
        "UUIDField",
        "DateField",
        "DateTimeField",
    }
)


def _internal_type(field: Field[Any, Any]) -> str:
    """``field``'s type; a foreign key's is its target's (the column it holds)."""
    target = getattr(field, "target_field", None)
    return str((target or field).get_internal_type())


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields: Any, objs: Any) -> int:
        """Batches that fit in one statement's parameters.

        Django batches deletes, cascades and ``bulk_create`` by this; PostgreSQL's
        backend does not limit it, so deleting an account with more than 65,535
        tasks failed (the cascade's ``IN`` list) instead of taking two statements.
        """
        per_object = max(len(fields), 1)
        return max(min(len(objs), MAX_PARAMETERS // per_object), 1)


class DatabaseWrapper(base.DatabaseWrapper):
    health_check_done: bool  # Django's, set per request; django-stubs lacks it
    ops_class = DatabaseOperations
    # statement_cursor()'s psycopg cursor, of the psycopg connection it was made on.
    _kept_cursor: Any = None

    @async_unsafe
    def statement_cursor(self) -> contextlib.nullcontext[CursorWrapper]:
        """``cursor()`` for one statement whose rows are fetched before the next
        statement runs, on a psycopg cursor kept for the next such statement.

        The cursor is not closed when the block ends (``cursor()`` closes its own):
        it keeps its adapters, and the last statement's rows until the next one
        replaces them. Not for rows iterated while another statement runs, which
        would replace them. A new psycopg cursor is made when the connection is
        new, or when something closed the kept one.
        """
        # What cursor() does before it makes a cursor: the health check, a
        # connection, the same error translation.
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            kept = self._kept_cursor
            if kept is None or kept.closed or kept.connection is not self.connection:
                kept = self._kept_cursor = self.connection.cursor()
            kept.format = pq.Format.TEXT  # read_binary() sets it per statement
            # django-stubs lacks Django's _prepare_cursor() and _close().
            return contextlib.nullcontext(self._prepare_cursor(kept))  # type: ignore[attr-defined]

    def _close(self) -> None:
        self._kept_cursor = None
        super()._close()  # type: ignore[misc]

    def _binds_on_server(self) -> bool:
        """Django's ``server_side_binding`` option: psycopg's server-side cursors,
        not its client-side ones."""
        return self.settings_dict["OPTIONS"].get("server_side_binding") is True

    def _compiled_timestamptz(self) -> bool:
        return bool(settings.USE_TZ) and self.timezone is datetime.UTC

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._compiled_timestamptz():
            context = adapt.AdaptersMap(params["context"])
            # psycopg registers its compiled loader in place of this, its own class.
            context.register_loader("timestamptz", TimestamptzLoader)
            params["context"] = context
        return params

    def create_cursor(self, name: str | None = None) -> Any:
        if not self._compiled_timestamptz():
            return super().create_cursor(name)
        # As Django's create_cursor, less its comparison of the loader's pinned zone
        # (which the compiled loader does not have; the session's zone is UTC).
        if not name:
            return self.connection.cursor()
        if not self._binds_on_server():
            return base.ServerSideCursor(  # type: ignore[call-arg]
                self.connection,
                name=name,
                scrollable=False,
                withhold=self.connection.autocommit,
            )
        return self.connection.cursor(
            name, scrollable=False, withhold=self.connection.autocommit
        )

    def reads_in_binary(self, fields: Sequence[Field[Any, Any]]) -> bool:
        """Whether rows of ``fields`` (output fields, in the order selected) load
        the same from PostgreSQL's binary form as from its text form. Only with
        server-side binding: psycopg's client-side cursors, which bind through a
        transaction pooler (config/settings), read text alone."""
        return (
            self._binds_on_server()
            and self._compiled_timestamptz()
            and all(_internal_type(field) in BINARY_SAFE_FIELDS for field in fields)
        )

    @staticmethod
    def read_binary(cursor: Any) -> None:
        """Have ``cursor`` (Django's) receive its next results in binary."""
        cursor.cursor.format = pq.Format.BINARY

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.settings_dict["CONN_HEALTH_CHECKS"]
            and not self.health_check_done
            and self._nothing_to_read()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _nothing_to_read(self) -> bool:
        """Whether this idle connection's socket is silent: nothing from the server
        since the last statement's answer, not even the end of the stream."""
        connection = self.connection
        if connection.closed or (
            connection.info.transaction_status != pq.TransactionStatus.IDLE
        ):
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
