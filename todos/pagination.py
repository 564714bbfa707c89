"""Keyset ("cursor") pagination over a validated ordering, stable and index-friendly.

Each page is one query: ``WHERE (key, id) > (last_key, last_id) ORDER BY key, id
LIMIT n + 1``. Unlike an OFFSET, a deep page costs the same as the first, and rows
inserted meanwhile neither repeat nor vanish. Cursors are signed, so a tampered
cursor is a clear 400, never a database error.
"""

from __future__ import annotations

import datetime
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from todos.expressions import RowCompare

_SALT = "todos.pagination.cursor"


@dataclass(frozen=True)
class SortKey:
    """One accepted ``ordering`` value: a column and its direction."""

    column: str
    descending: bool
    nullable: bool = False

    def order_by(self, reverse: bool = False) -> list[OrderBy]:
        desc = self.descending != reverse
        # NULL sorts as if it were larger than every value, in both directions, so
        # that a backward scan of one ascending index serves both orders.
        if desc:
            key = F(self.column).desc(nulls_first=True if self.nullable else None)
            tie = F("id").desc()
        else:
            key = F(self.column).asc(nulls_last=True if self.nullable else None)
            tie = F("id").asc()
        return [key, tie]


ORDERINGS: dict[str, SortKey] = {}
for _name, _nullable in [
    ("created_at", False),
    ("updated_at", False),
    ("due_at", True),
    ("priority", False),
    ("title", False),
]:
    ORDERINGS[_name] = SortKey(_name, descending=False, nullable=_nullable)
    ORDERINGS["-" + _name] = SortKey(_name, descending=True, nullable=_nullable)

DEFAULT_ORDERING = "-created_at"


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _decode_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in {"created_at", "updated_at", "due_at"}:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError(value)
        return parsed
    if column == "priority":
        if not isinstance(value, int):
            raise ValueError(value)
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    return value


class TaskCursorPagination(BasePagination):
    """``?ordering=``, ``?cursor=`` and ``?page_size=`` for the task list."""

    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.ordering_name = self._ordering(request)
        self.key = ORDERINGS[self.ordering_name]
        size = self._page_size(request)
        position = self._position(request)
        reverse = bool(position and position["r"])

        rows = queryset
        if position is not None:
            rows = rows.filter(self._after(position, reverse))
        rows = rows.order_by(*self.key.order_by(reverse=reverse))
        page = list(rows[: size + 1])
        has_more = len(page) > size
        page = page[:size]
        if reverse:
            page.reverse()
        self.page = page
        # Moving backwards, there is always a next page (the one we came from).
        self.has_next = has_more if not reverse else position is not None
        self.has_previous = (position is not None) if not reverse else has_more
        return page

    # --- parameters ------------------------------------------------------------------

    def _ordering(self, request: Request) -> str:
        value = request.query_params.get(self.ordering_query_param, DEFAULT_ORDERING)
        if value not in ORDERINGS:
            choices = ", ".join(sorted(name for name in ORDERINGS))
            raise ValidationError(
                {self.ordering_query_param: [f"'{value}' is not one of: {choices}."]},
                code="invalid",
            )
        return value

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {self.page_size_query_param: ["Must be a positive integer."]},
                code="invalid",
            )
        return min(size, self.max_page_size)

    def _position(self, request: Request) -> dict[str, Any] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        error = ValidationError(
            {self.cursor_query_param: ["Invalid cursor."]}, code="invalid_cursor"
        )
        try:
            payload = signing.loads(raw, salt=_SALT)
            if payload["o"] != self.ordering_name:
                raise ValidationError(
                    {
                        self.cursor_query_param: [
                            "This cursor belongs to another ordering."
                        ]
                    },
                    code="invalid_cursor",
                )
            return {
                "v": _decode_value(self.key.column, payload["v"]),
                "i": uuid.UUID(payload["i"]),
                "r": bool(payload["r"]),
            }
        except ValidationError:
            raise
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise error from None

    # --- keyset ----------------------------------------------------------------------

    def _after(self, position: dict[str, Any], reverse: bool) -> Q:
        """Rows strictly after ``position`` in the direction being read."""
        key = self.key
        forward_desc = key.descending != reverse
        value, last_id = position["v"], position["i"]
        op = "<" if forward_desc else ">"
        if not key.nullable:
            return Q(RowCompare((key.column, "id"), op, (value, last_id)))
        # NULL counts as the largest value.
        if value is None:
            same_null_tail = Q(**{f"{key.column}__isnull": True}) & Q(
                **{"id__lt" if forward_desc else "id__gt": last_id}
            )
            if forward_desc:
                return same_null_tail | Q(**{f"{key.column}__isnull": False})
            return same_null_tail
        beyond = Q(RowCompare((key.column, "id"), op, (value, last_id)))
        if forward_desc:
            return beyond & Q(**{f"{key.column}__isnull": False})
        return beyond | Q(**{f"{key.column}__isnull": True})

    def _cursor(self, row: Any, reverse: bool) -> str:
        payload = {
            "o": self.ordering_name,
            "v": _encode_value(getattr(row, self.key.column)),
            "i": str(row.pk),
            "r": reverse,
        }
        return signing.dumps(payload, salt=_SALT, compress=True)

    def _link(self, row: Any, reverse: bool) -> str:
        url = self.request.build_absolute_uri()
        return replace_query_param(
            url, self.cursor_query_param, self._cursor(row, reverse)
        )

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            return remove_query_param(
                self.request.build_absolute_uri(), self.cursor_query_param
            )
        return self._link(self.page[0], reverse=True)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            OrderedDict(
                [
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque cursor from a previous page's next/previous.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": (
                    f"Results per page (default {self.page_size}; larger values are "
                    f"capped at {self.max_page_size})."
                ),
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.ordering_query_param,
                "in": "query",
                "required": False,
                "description": (
                    "Sort key, '-' for descending; ties are broken by id. "
                    "priority sorts by urgency; tasks without a due date come last "
                    "for due_at and first for -due_at."
                ),
                "schema": {
                    "type": "string",
                    "enum": sorted(ORDERINGS),
                    "default": DEFAULT_ORDERING,
                },
            },
        ]
