"""Database expressions the task constraints are written in."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Func


class TrimWhitespace(Func):
    """Strip ASCII whitespace (space, tab, CR, LF, VT, FF) from both ends.

    SQL's plain ``TRIM`` only removes spaces, which would let a title of tabs and
    newlines pass the "not blank" CHECK.
    """

    function = "TRIM"
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="TRIM(%(expressions)s, char(32, 9, 10, 11, 12, 13))",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="BTRIM(%(expressions)s, E' \\t\\n\\r\\x0b\\f')",
            **extra,
        )
