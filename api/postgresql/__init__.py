"""Django's PostgreSQL backend, reading ``timestamptz`` with psycopg's C loader."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from django.db.backends.utils import CursorWrapper


def statement_cursor(connection: Any) -> AbstractContextManager[CursorWrapper]:
    """A cursor of ``connection`` (Django's) for one statement whose rows are
    fetched before the next statement runs: this backend's kept cursor
    (``base.DatabaseWrapper.statement_cursor``), any other backend's ``cursor()``.
    Use it in a ``with`` block, as ``cursor()``."""
    kept = getattr(connection, "statement_cursor", None)
    if kept is None:
        return connection.cursor()
    return kept()
