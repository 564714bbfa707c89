"""Database outages simulated in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper


@contextmanager
def unreachable_database() -> Iterator[None]:
    """Every attempt to reach the database fails as a refused connection does.

    Django goes through ``ensure_connection()`` before any statement (cursors,
    savepoints, autocommit changes); when the server is gone, connecting raises
    ``OperationalError``, and so does this patch, even on an already open connection.
    """

    def refuse(self: BaseDatabaseWrapper) -> None:
        raise OperationalError("connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
        yield
