"""Database expressions the task constraints are written in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Expression,
    F,
    Func,
    Subquery,
    Value,
)
from django.db.models.functions import Now


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


class RowCompare(Expression):
    """``(col_a, col_b) < (val_a, val_b)``: a row-value comparison for keyset pages.

    PostgreSQL answers it from a composite index on exactly those columns; the
    equivalent ``a < x OR (a = x AND b < y)`` is not turned into an index range.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(
        self, columns: Sequence[str], operator: str, values: Sequence[Any]
    ) -> None:
        if operator not in {"<", ">"} or len(columns) != len(values):
            raise ValueError(
                "RowCompare needs '<' or '>' and as many values as columns"
            )
        super().__init__()
        self.columns = list(columns)
        self.operator = operator
        self.values = list(values)
        self.lhs: list[Any] = [F(c) for c in self.columns]
        self.rhs: list[Any] = list(self.values)

    def get_source_expressions(self) -> list[Any]:
        return [*self.lhs, *self.rhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        half = len(self.columns)
        self.lhs, self.rhs = list(exprs[:half]), list(exprs[half:])

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> RowCompare:
        clone = self.copy()
        clone.lhs = [
            F(c).resolve_expression(query, allow_joins, reuse, summarize)
            for c in self.columns
        ]
        clone.rhs = [
            (
                v
                if hasattr(v, "resolve_expression")
                else Value(v, output_field=lhs.output_field)
            ).resolve_expression(query, allow_joins, reuse, summarize)
            for v, lhs in zip(self.values, clone.lhs, strict=True)
        ]
        return clone

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        params: list[Any] = []
        sides = []
        for side in (self.lhs, self.rhs):
            parts = []
            for expression in side:
                sql, sql_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(sql_params)
            sides.append("(" + ", ".join(parts) + ")")
        return f"{sides[0]} {self.operator} {sides[1]}", params


class DatabaseNow(Now):
    """``Now()`` whose SQLite text is what Django writes: six fractional digits.

    SQLite keeps datetimes as text and compares them as text: the database's own
    ``...:02.471`` would sort before Django's ``...:02.471000`` for the same instant
    and break keyset pages and range filters on rows the database stamped.
    """

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django writes a whole second without a fraction ("...:05"), and so must
        # the database: "...:05.000000" sorts after "...:05", so the next page after
        # a row stamped then began with it again. 'NOW' is one instant per statement.
        return (
            "CASE WHEN SUBSTR(STRFTIME('%%f', 'NOW'), 4) = '000' "
            "THEN STRFTIME('%%Y-%%m-%%d %%H:%%M:%%S', 'NOW') "
            "ELSE STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW') || '000' END",
            [],
        )


class JoinedIds(Subquery):
    """The values of a one-column subquery as one comma-separated text, in order.

    Lets a page query carry each task's label ids without a query per task or a
    second query: ``array_to_string(ARRAY(...), ',')`` on PostgreSQL (an empty
    text for none), ``group_concat`` on SQLite (NULL for none). The subquery's
    column must be named ``label_id`` (SQLite reads it by name).
    """

    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="array_to_string(ARRAY(%(subquery)s), ',')",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(SELECT group_concat(label_id, ',') FROM (%(subquery)s))",
            **extra,
        )


class TaskLabelIds(JoinedIds):
    """A task's label ids, joined as :class:`JoinedIds` joins them, for
    ``TaskQuerySet.with_label_ids()``: on PostgreSQL read from ``todos_task.label_ids``,
    the text its triggers keep (migration 0009), instead of a subquery per row;
    elsewhere the subquery. Built on the subquery of the task's links, whose outer
    reference names the task table's alias in the query it joins."""

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        (task_id,) = self.get_external_cols()
        return f'{compiler.quote_name_unless_alias(task_id.alias)}."label_ids"', []


# The position SQLite gives a new task until its trigger moves it to the end (see
# migration 0006_task_manual_order): no move ever computes a value this low.
UNPLACED_POSITION = -(2**63)


class NextTaskPosition(Expression):
    """A new task's position: after every position handed out before, in any list.

    PostgreSQL: ``nextval`` of a sequence stepping by the position gap, so every
    insert (the API's, a COPY's, raw SQL's) takes a fresh, larger value without a
    lock. SQLite has no sequences: the column default is ``UNPLACED_POSITION``,
    which an ``AFTER INSERT`` trigger replaces with the largest position plus the gap.
    """

    output_field = BigIntegerField()
    allowed_default = True

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return str(UNPLACED_POSITION), []

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return "nextval('todos_task_position_seq')", []
