"""Keyset ("cursor") pagination over a validated ordering, stable and index-friendly.

Each page is one query: ``WHERE (key, id) > (last_key, last_id) ORDER BY key, id
LIMIT n + 1`` (a second one, for the NULLs, where a page of ``due_at`` crosses into
them). Unlike an OFFSET, a deep page costs the same as the first, and rows
inserted meanwhile neither repeat nor vanish. Cursors are signed for their user and
bound to their ordering and filters, so a tampered, foreign or misapplied cursor is a
clear 400, never a database error.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import json
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib import parse

from django.core import signing
from django.db.models import F, Field, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from django.utils.encoding import escape_uri_path, force_bytes
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from api.scoping import Slot
from todos.expressions import RowCompare
from todos.models import TITLE_MAX_LENGTH, Task

_SALT = "todos.pagination.cursor"
# Query parameters that move through the list rather than choose its rows.
_NOT_FILTERS = {"cursor", "page_size", "ordering"}


def _digest(params: list[tuple[str, str]]) -> str:
    """The cursor's digest of a list's filter parameters, sorted."""
    return hashlib.sha256(json.dumps(params).encode()).hexdigest()[:16]


_NO_FILTERS = _digest([])


@dataclass(frozen=True)
class SortKey:
    """One accepted ``ordering`` value: a column and its direction."""

    column: str
    descending: bool
    nullable: bool = False
    # Unique within the rows listed (position, within the one list it needs): no
    # id tie-break, so the (list, position) unique index gives the order alone.
    unique: bool = False

    def order_by(self, reverse: bool = False) -> list[OrderBy]:
        desc = self.descending != reverse
        if self.unique:
            return [F(self.column).desc() if desc else F(self.column).asc()]
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
# The manual order of one list (todos.services.task_move); needs ?list=.
ORDERINGS["position"] = SortKey("position", descending=False, unique=True)
ORDERINGS["-position"] = SortKey("position", descending=True, unique=True)

DEFAULT_ORDERING = "-created_at"

# What django.core.signing.dumps() makes: URL-safe base64 of the JSON payload, a
# base 62 timestamp and an HMAC-SHA256 in URL-safe base64 (43 characters). Cursors
# issued before 5 December 2026 were compressed (dumps(..., compress=True): "."
# first when zlib shrank the payload); they are still read. The server refuses
# anything else before it checks a signature, so the schema can state it.
CURSOR_PATTERN = r"^\.?[-_0-9A-Za-z]+:[0-9A-Za-z]{1,8}:[-_0-9A-Za-z]{43}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN.replace("$", r"\Z"))


def _longest_cursor() -> int:
    """The length of the longest cursor a page can issue (a title of emoji)."""
    payload = {
        "o": max(ORDERINGS, key=len),
        "f": "0" * 16,
        "v": "\U0001f600" * TITLE_MAX_LENGTH,
        "i": str(uuid.UUID(int=0)),
        "r": False,
    }
    data = json.dumps(payload, separators=(",", ":"))
    return 1 + math.ceil(len(data) * 4 / 3) + 1 + 8 + 1 + 43


CURSOR_MAX_LENGTH = _longest_cursor()


class _JSONSerializer(signing.JSONSerializer):
    """Django's ``JSONSerializer``, the same text, its encoder made once rather than
    on every call (``json.dumps`` with separators builds a new one each time)."""

    _encoder = json.JSONEncoder(separators=(",", ":"))

    def dumps(self, obj: Any) -> bytes:
        return self._encoder.encode(obj).encode("latin-1")


class CursorSigner(signing.TimestampSigner):
    """Django's ``TimestampSigner``: the same signatures, so the same cursors as
    ``signing.dumps()`` and the same checks as ``signing.loads`` (compressed
    payloads and ``SECRET_KEY_FALLBACKS`` included), with each salt and key's HMAC
    prepared once per process instead of for every signature."""

    def sign_object(
        self,
        obj: Any,
        serializer: type[signing.Serializer] = _JSONSerializer,
        compress: bool = False,
    ) -> str:
        return super().sign_object(obj, serializer=serializer, compress=compress)

    def signature(self, value: str | bytes, key: str | bytes | None = None) -> str:
        # Signer.signature(): base64_hmac(self.salt + "signer", value, key).
        salt = cast(str, self.salt)  # the cursors' salts are text
        mac = _keyed_hmac(salt + "signer", key or self.key, self.algorithm).copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


@functools.lru_cache(maxsize=1024)
def _keyed_hmac(key_salt: str, secret: str | bytes, algorithm: str) -> hmac.HMAC:
    """``salted_hmac(key_salt, value, secret)`` before it reads ``value``: its key
    derived, its digest's inner state keyed; copies go on with the value.
    Never updated itself. One per user (the salt names the user), at most 1,024."""
    return salted_hmac(key_salt, b"", secret, algorithm=algorithm)


def _quote(value: str) -> str:
    """``urllib.parse.quote_plus(value)``, without its character-by-character path
    for the one character of a cursor that needs quoting: ``:`` stays out of the
    slow path (when nothing else needs quoting) and is quoted afterwards. Quoting
    never writes a ``:`` itself, so the result is the same for every string."""
    return parse.quote_plus(value, safe=":").replace(":", "%3A")


@dataclass
class QueryUrl:
    """A URL taken apart once, to be given one query parameter after another."""

    scheme: str
    netloc: str
    path: str
    params: dict[str, list[str]]
    fragment: str = ""

    @classmethod
    def from_url(cls, url: str) -> QueryUrl:
        scheme, netloc, path, query, fragment = parse.urlsplit(url)
        params = parse.parse_qs(query, keep_blank_values=True)
        return cls(scheme, netloc, path, params, fragment)

    @classmethod
    def of_request(cls, request: Request) -> QueryUrl:
        """``from_url(request.build_absolute_uri())``, from what the request has
        worked out already: its scheme and host (``get_host()`` checks it against
        ``ALLOWED_HOSTS``, as ``build_absolute_uri()`` does), its path escaped as
        ``get_full_path()`` escapes it, and the query parameters the view read
        (``request.query_params``) rather than the query string quoted and parsed
        once more.

        The same URL, but for a query string sent with raw non-ASCII bytes (as
        ``?search=café`` from a client that does not percent-encode): Django's
        ``build_absolute_uri()`` quotes each of their bytes as if it were a
        character, so the links carried other parameters than those the page was
        filtered by (``search=caf%C3%83%C2%A9``), and their cursors were refused.
        The paginated routes have no ``.`` or ``..`` segments, which
        ``build_absolute_uri()`` would resolve.
        """
        return cls(
            cast(str, request.scheme),  # "http" or "https" (WSGI's url_scheme)
            request.get_host(),
            escape_uri_path(request.path),
            dict(request.query_params.lists()),
        )

    def with_param(self, key: str, value: str) -> str:
        """DRF's ``replace_query_param(url, key, value)``: the same URL (parameters
        in order of name, each value quoted as ``urlencode`` does), at a cursor's
        cost."""
        return self._with({**self.params, key: [value]})

    def without_param(self, key: str) -> str:
        """DRF's ``remove_query_param(url, key)``, the same URL."""
        return self._with({name: v for name, v in self.params.items() if name != key})

    def _with(self, params: dict[str, list[str]]) -> str:
        query = "&".join(
            f"{_quote(name)}={_quote(item)}"
            for name, values in sorted(params.items())
            for item in values
        )
        return parse.urlunsplit(
            (self.scheme, self.netloc, self.path, query, self.fragment)
        )


def with_query_param(url: str, key: str, value: str) -> str:
    """DRF's ``replace_query_param(url, key, value)``, the same URL, cheaper."""
    return QueryUrl.from_url(url).with_param(key, value)


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
    if column in {"priority", "position"}:
        if not isinstance(value, int):
            raise ValueError(value)
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _field(row: Any, name: str, columns: tuple[str, ...] = ()) -> Any:
    """A column of a page's row: a model instance, a ``values()`` dict or a
    ``values_list(*columns)`` tuple."""
    if isinstance(row, tuple):
        return row[columns.index(name)]
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _task_field(name: str) -> Field[Any, Any]:
    return cast("Field[Any, Any]", Task._meta.get_field(name))


@dataclass(frozen=True)
class Stretch:
    """One range of a page's index, read in order for at most ``limit`` rows."""

    # All that the query depends on but the cursor's values: ordering, direction,
    # which of its ranges, how many rows.
    shape: tuple[Any, ...]
    # The range's condition with the cursor's values in it, built when asked for:
    # a read that compiles its SQL once per shape needs ``parametrized`` only.
    condition: Callable[[], Q]
    # ``where`` with the cursor's values as slots "value" and "id" (in ``values``).
    parametrized: Q
    values: dict[str, Any]
    order: tuple[OrderBy, ...]
    limit: int

    @property
    def where(self) -> Q:
        return self.condition()


def _after(key: SortKey, position: dict[str, Any], reverse: bool) -> list[Q]:
    """Rows strictly after ``position`` in the direction being read.

    One condition per contiguous stretch of the ``(owner, key, id)`` index, in
    reading order; the page reads them one after the other until it is full. A
    nullable key has two stretches, the dated rows and the NULLs (which count as
    larger than every value): one ``... OR key IS NULL`` would make PostgreSQL
    filter the owner's rows from the start of the index instead of seeking to the
    position, so a deep page would cost as much as reading up to it.
    """
    forward_desc = key.descending != reverse
    value, last_id = position["v"], position["i"]
    op = "<" if forward_desc else ">"
    if key.unique:
        return [Q(**{f"{key.column}__{'lt' if op == '<' else 'gt'}": value})]
    if not key.nullable:
        return [Q(RowCompare((key.column, "id"), op, (value, last_id)))]
    is_null = Q(**{f"{key.column}__isnull": True})
    not_null = Q(**{f"{key.column}__isnull": False})
    if value is None:
        null_tail = is_null & Q(**{"id__lt" if forward_desc else "id__gt": last_id})
        # Descending, the NULLs come first and every dated row follows them.
        return [null_tail, not_null] if forward_desc else [null_tail]
    beyond = Q(RowCompare((key.column, "id"), op, (value, last_id))) & not_null
    # Ascending, the NULLs follow the last dated row.
    return [beyond] if forward_desc else [beyond, is_null]


@functools.lru_cache(maxsize=128)
def _plan(
    ordering: str, reverse: bool, null_value: bool | None
) -> tuple[tuple[Q, ...], tuple[OrderBy, ...]]:
    """A page's ranges, as conditions on the slots "value" and "id", and its order.

    They depend only on the ordering, the direction and, for a page after a cursor,
    whether the cursor's value is NULL (``None`` for a first page): built once per
    process for each of these (at most 72) and shared by every request, as the
    compiled SQL they are read through is (Django copies the expressions it
    resolves and changes neither).
    """
    key = ORDERINGS[ordering]
    order = tuple(key.order_by(reverse=reverse))
    if null_value is None:
        return (Q(),), order
    slots = {
        "v": None if null_value else Slot("value", _task_field(key.column)),
        "i": Slot("id", _task_field("id")),
    }
    return tuple(_after(key, slots, reverse)), order


class TaskCursorPagination(BasePagination):
    """``?ordering=``, ``?cursor=`` and ``?page_size=`` for the task list."""

    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"
    # The names of a page's columns, when its rows are tuples.
    columns: tuple[str, ...] = ()

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        """DRF's entry: the page of ``queryset``'s rows, as it yields them."""

        def read(stretch: Stretch) -> list[Any]:
            rows = queryset.filter(stretch.where).order_by(*stretch.order)
            return list(rows[: stretch.limit])

        # A values_list() queryset names its columns; a queryset of models, None.
        columns = getattr(queryset, "_fields", None) or ()
        return self.paginate(request, read, tuple(columns))

    def paginate(
        self,
        request: Request,
        read: Callable[[Stretch], Sequence[Any]],
        columns: tuple[str, ...] = (),
    ) -> list[Any]:
        """The page ``request`` asks for, its rows from ``read``, one stretch at a
        time; rows are ``values_list(*columns)`` tuples, dicts or instances."""
        self._start(request)
        self.columns = columns
        size = self._page_size(request)
        position = self._position(request)
        reverse = bool(position and position["r"])

        null_value = None if position is None else position["v"] is None
        ranges, order = _plan(self.ordering_name, reverse, null_value)
        values = (
            {} if position is None else {"value": position["v"], "id": position["i"]}
        )

        def condition(index: int) -> Q:
            if position is None:
                return Q()
            return _after(self.key, position, reverse)[index]

        page: list[Any] = []
        for index, parametrized in enumerate(ranges):
            limit = size + 1 - len(page)
            shape = (self.ordering_name, reverse, null_value, index, limit)
            where = functools.partial(condition, index)
            page.extend(read(Stretch(shape, where, parametrized, values, order, limit)))
            if len(page) > size:
                break
        has_more = len(page) > size
        page = page[:size]
        if reverse:
            page.reverse()
        self.page = page
        # Moving backwards, there is always a next page (the one we came from).
        self.has_next = has_more if not reverse else position is not None
        self.has_previous = (position is not None) if not reverse else has_more
        return page

    def cursor_for(self, request: Request, row: Any, *, reverse: bool = False) -> str:
        """The signed cursor this paginator would link to from ``request``'s list.

        It continues the list just after ``row`` (before it, with ``reverse``), for
        the requester, ordering and filters of ``request``: exactly the ``cursor``
        of a next (previous) link on a page that ends (starts) with ``row``. ``row``
        needs the ordering's column and ``id`` (a model or a ``values()`` dict).
        An unknown ordering is the same 400
        the list gives.
        """
        self._start(request)
        return self._cursor(row, reverse)

    def _start(self, request: Request) -> None:
        """Take ``request``'s ordering; what its cursors need, worked out once per
        page: the digest of its filters and the signer for its user (signed per user:
        another user's cursor fails like a tampered one)."""
        self.request = request
        self.ordering_name = self._ordering(request)
        self.key = ORDERINGS[self.ordering_name]
        self.filters = self._filters()
        self.signer = CursorSigner(salt=f"{_SALT}:{request.user.pk}")
        # The page's URL, taken apart when a link first needs it.
        self.url: QueryUrl | None = None

    # --- parameters ------------------------------------------------------------------

    def _ordering(self, request: Request) -> str:
        value = request.query_params.get(self.ordering_query_param, DEFAULT_ORDERING)
        if value not in ORDERINGS:
            choices = ", ".join(sorted(name for name in ORDERINGS))
            raise ValidationError(
                {self.ordering_query_param: [f"'{value}' is not one of: {choices}."]},
                code="invalid",
            )
        if ORDERINGS[value].column == "position" and "list" not in request.query_params:
            raise ValidationError(
                {
                    self.ordering_query_param: [
                        "ordering=position orders one list: add list=<id> or "
                        "list=inbox."
                    ]
                },
                # Its own code: a rule across two parameters, which OpenAPI's
                # parameter schemas cannot state (the description says it).
                code="requires_list",
            )
        return value

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # A few ASCII digits only: int() would also take " 5", "+5", "1_0" and
        # other scripts' digits, which the schema's integer does not, and refuses
        # more than 4300 digits with an error of its own.
        digits = raw.isascii() and raw.isdigit() and len(raw) <= 9
        size = int(raw) if digits else 0
        # Refused rather than capped: a client asking for more than it can get
        # learns so at once instead of mistaking a short page for the whole list.
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be an integer between 1 and {self.max_page_size}."
                    ]
                },
                code="invalid",
            )
        return size

    def _position(self, request: Request) -> dict[str, Any] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        if len(raw) > CURSOR_MAX_LENGTH or not _CURSOR_RE.match(raw):
            raise self._mismatch("Invalid cursor.")
        try:
            # signing.loads(raw, salt=...), with the request's signer.
            payload = self.signer.unsign_object(raw)
            if payload["o"] != self.ordering_name:
                raise self._mismatch("This cursor belongs to another ordering.")
            if payload["f"] != self.filters:
                raise self._mismatch("This cursor belongs to other filters.")
            return {
                "v": _decode_value(self.key.column, payload["v"]),
                "i": uuid.UUID(payload["i"]),
                "r": bool(payload["r"]),
            }
        except ValidationError:
            raise
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise self._mismatch("Invalid cursor.") from None

    def _mismatch(self, message: str) -> ValidationError:
        return ValidationError(
            {self.cursor_query_param: [message]}, code="invalid_cursor"
        )

    def _filters(self) -> str:
        """A digest of the filter parameters: a cursor continues only its own list."""
        params = sorted(
            (name, value)
            for name, values in self.request.query_params.lists()
            if name not in _NOT_FILTERS
            for value in values
        )
        if not params:  # the usual list: its digest is worked out once
            return _NO_FILTERS
        return _digest(params)

    # --- cursors and links ------------------------------------------------------------

    def _cursor(self, row: Any, reverse: bool) -> str:
        payload = {
            "o": self.ordering_name,
            "f": self.filters,
            "v": _encode_value(_field(row, self.key.column, self.columns)),
            "i": str(_field(row, "id", self.columns)),
            "r": reverse,
        }
        # signing.dumps(payload, salt=...), with the request's signer. Not
        # compressed: zlib takes about a tenth off the usual cursor (a uuid and a
        # time barely compress; 230 characters instead of 206) and costs more than
        # the rest of its signing, on every link of every page, and again to read
        # the cursor back.
        return self.signer.sign_object(payload)

    def _url(self) -> QueryUrl:
        """This page's URL, taken apart when a link first needs it."""
        if self.url is None:
            self.url = QueryUrl.of_request(self.request)
        return self.url

    def _link(self, row: Any, reverse: bool) -> str:
        return self._url().with_param(
            self.cursor_query_param, self._cursor(row, reverse)
        )

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            return self._url().without_param(self.cursor_query_param)
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
                "description": (
                    "Opaque cursor from a previous page's next/previous link, for "
                    "the same user, ordering and filters; any other is a 400."
                ),
                "schema": {
                    "type": "string",
                    "pattern": CURSOR_PATTERN,
                    "maxLength": CURSOR_MAX_LENGTH,
                },
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": (
                    f"Results per page, 1 to {self.max_page_size} (default "
                    f"{self.page_size}); anything else is a 400."
                ),
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                },
            },
            {
                "name": self.ordering_query_param,
                "in": "query",
                "required": False,
                "description": (
                    "Sort key, '-' for descending; ties are broken by id. "
                    "priority sorts by urgency; tasks without a due date come last "
                    "for due_at and first for -due_at. position (the manual order) "
                    "orders one list and needs list=<id> or list=inbox: without "
                    "it, a 400 (code requires_list)."
                ),
                "schema": {
                    "type": "string",
                    "enum": sorted(ORDERINGS),
                    "default": DEFAULT_ORDERING,
                },
            },
        ]
