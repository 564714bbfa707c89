"""Owner isolation: the one place where a user's rows are fenced off from others'.

Every view that serves a model with an owner subclasses :class:`OwnerScopedViewSet`
(``api.checks`` fails the system check for one that does not). The base owns every
door through which rows reach a view:

- ``get_queryset()`` returns only the requester's rows, so a list never leaks and
  another user's id is a 404 exactly like a missing one;
- ``filter_queryset()`` and ``get_object()`` run the owner's queryset through the
  view's filter backends and object permissions, and cannot be replaced;
- the permission list always starts with ``IsAuthenticated`` and ``IsOwner``: a
  subclass's ``permission_classes`` are added after them, never instead of them;
- ``perform_create()`` sets the owner itself; the owner is never input;
- ``owner_rows()`` gives the same owner's rows to read as tuples, through SQL
  compiled once per shape with the requester bound as its owner; ``get_row()`` is
  ``get_object()`` read that way, and ``get_row_condition()`` the same row unread:
  the condition a write statement holds;
- for the actions in ``fold_user_check`` (on PostgreSQL), those reads and row
  conditions also carry the per-request user check, so the user's row is not read
  in a statement of its own (an ``api.principals.PendingPrincipal``);
  ``finalize_response()`` checks the user on its own before any answer that no
  read or write vouched for.

A subclass that defines one of those members is a ``TypeError`` when the class is
created. It narrows the rows with ``scope_queryset()``.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.core.exceptions import (
    EmptyResultSet,
    ImproperlyConfigured,
    MultipleObjectsReturned,
    ValidationError,
)
from django.db import connections, router
from django.db.models import CharField, Exists, Expression, Field, Model, QuerySet
from django.db.models.functions import MD5, Upper
from django.db.models.query import ValuesListIterable
from django.http import Http404
from rest_framework import exceptions, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.middleware import release_with_view
from api.permissions import IsOwner
from api.postgresql import statement_cursor
from api.principals import PendingPrincipal, checked
from api.throttling import DeferredThrottlesMixin

OWNER_PERMISSIONS: tuple[type[BasePermission], ...] = (IsAuthenticated, IsOwner)

# What a subclass may not define: each is a way around the owner filter.
GUARDED_MEMBERS = (
    "queryset",
    "get_queryset",
    "filter_queryset",
    "get_object",
    "get_permissions",
    "perform_create",
    "owner_rows",
    "get_row",
    "get_row_condition",
    "_url_lookup",
    "_rows_of",
    "_requester",
    "folds_user_check",
    "finalize_response",
)

_MISSING = object()


class Slot(Expression):
    """A parameter of a compiled query, named: its value is bound per execution.

    ``OwnerScopedViewSet.owner_rows`` compiles a query once per shape with slots
    where the values of one request go, and binds each execution's values to them.
    """

    def __init__(self, name: str, output_field: Field[Any, Any]) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # The slot itself stands in the parameters, for owner_rows to find.
        return "%s", [self]


class OpaqueSlot(Slot):
    """A slot whose value PostgreSQL's planner does not see: ``(SELECT $n::type)``.

    PostgreSQL plans a prepared statement afresh for each execution (a custom plan)
    for as long as those plans look cheaper than its generic plan. For the rows of
    an owner with far more rows than the average, which the statistics know, they
    always do, though the plan is the same (the owner's index, read in order up to
    the page's limit): a user with 100k tasks had every page of the list planned
    anew, 100-200 µs of PostgreSQL's CPU a page (docs/performance.md). Behind a
    one-row subquery the owner is unknown to every plan, so PostgreSQL settles on
    the generic plan of psycopg's prepared statement after its first five custom
    ones, and a connection plans the page read a handful of times, not each time.
    For unfiltered reads only (``OwnerScopedViewSet.owner_rows``): with filters the
    owner's row count may rightly choose another index, such as a search's trigram
    index for a user with many tasks.
    """

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return f"(SELECT %s::{self.output_field.db_type(connection)})", [self]


@dataclass(frozen=True)
class _Compiled:
    """A query's SQL and what each of its parameters is: a constant or a slot."""

    sql: str | None  # None: the query can match nothing (EmptyResultSet)
    params: tuple[Any, ...]
    # When the backend converts the values read (SQLite): the query and the
    # expressions it selects, which name the converters.
    converted: tuple[Any, list[Any]] | None
    columns: int | None  # keep only this many columns (extra select for ORDER BY)
    # The rows come the same in the database's binary form, which costs less
    # (api.postgresql.base.DatabaseWrapper.reads_in_binary).
    binary: bool = False


# (view class, database alias, key) -> compiled query; a handful of shapes per view
# and page size. Emptied when full: recompiling costs one ORM build per shape.
_COMPILED: dict[tuple[Any, ...], _Compiled] = {}
_COMPILED_MAX = 1024
# (view class, folded, slot class) -> its owner's rows, with the owner as a slot.
_SCOPED: dict[tuple[type, bool, type[Slot]], QuerySet[Any]] = {}
_OWNER = "owner"
_DIGEST = "user_check_digest"


class OwnerScopedViewSet(DeferredThrottlesMixin, viewsets.GenericViewSet[Any]):
    """A viewset over ``model`` that only ever sees the requester's rows."""

    model: ClassVar[type[Model]]
    owner_field: ClassVar[str] = "owner"
    permission_classes = list(OWNER_PERMISSIONS)
    # Actions whose every answer rests on reads through owner_rows(): their reads
    # carry the user check (folds_user_check).
    fold_user_check: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:
            if klass is OwnerScopedViewSet:
                break
            # DRF's own mixins come before this base in a viewset's bases (e.g.
            # CreateModelMixin.perform_create): theirs are replaced by ours below.
            if klass.__module__ == "rest_framework.mixins":
                continue
            for name in GUARDED_MEMBERS:
                # A subclass carries the base's own members, re-pinned below.
                if klass.__dict__.get(name, _MISSING) not in (
                    _MISSING,
                    OwnerScopedViewSet.__dict__.get(name),
                ):
                    raise TypeError(
                        f"{cls.__name__} may not define {name}: owner scoping lives "
                        "in api.scoping.OwnerScopedViewSet (narrow the rows with "
                        "scope_queryset, add permissions with permission_classes)."
                    )
        for name in GUARDED_MEMBERS:
            if name in OwnerScopedViewSet.__dict__:
                setattr(cls, name, OwnerScopedViewSet.__dict__[name])
        extra = [p for p in cls.permission_classes if p not in OWNER_PERMISSIONS]
        cls.permission_classes = [*OWNER_PERMISSIONS, *extra]

    @property
    def owner(self) -> Any:
        """The requester, who owns every row this view reads or writes.

        Always a checked user: one still pending (``fold_user_check``) is checked
        now, on its own. ``owner_rows()`` (and what reads through it: ``get_row()``,
        ``get_row_condition()``) alone takes it pending.
        """
        return checked(self._requester())

    def _requester(self) -> Any:
        user = self.request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated
        return user

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return self._rows_of(self.owner)

    def _rows_of(self, owner: Any, *, folded: bool = False) -> QuerySet[Any]:
        """The rows of ``owner`` (a user, or a slot for one), narrowed by the view.

        ``folded`` (``owner`` a slot): only while the user check holds
        (``_user_check``).
        """
        rows = self.model._default_manager.filter(**{self.owner_field: owner})
        if folded:
            rows = rows.filter(_user_check(owner))
        return self.scope_queryset(rows)

    def folds_user_check(self) -> bool:
        """Whether this request's reads carry the user check (PostgreSQL only)."""
        if self.action not in self.fold_user_check:
            return False
        alias = router.db_for_read(self.model)
        return (
            connections[alias].vendor == "postgresql"
            and router.db_for_read(get_user_model()) == alias
        )

    def owner_rows(self) -> OwnerRows:
        """The requester's rows after the view's filter backends (which run now),
        to read as tuples through SQL compiled once per shape (``OwnerRows``)."""
        owner = self._requester()
        folded = isinstance(owner, PendingPrincipal) and not owner.settled
        scoped = _scoped_rows(self, folded, Slot)
        filtered = self.filter_queryset(scoped)
        if filtered is scoped:
            # The same rows, the owner hidden from the planner (OpaqueSlot).
            rows = _scoped_rows(self, folded, OpaqueSlot)
            return OwnerRows(type(self), owner, rows, True, folded)
        return OwnerRows(type(self), owner, filtered, False, folded)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        """Fails closed: a user no read vouched for is checked before any answer.

        An empty page, a missing row, an error before any read: the user's row is
        read on its own then, and a refused user gets the 401 they get today. The
        throttles answer first (``api.throttling``): a 429 of a user the check
        refuses is that 401, as when the throttles answered before the handler.
        """
        response = self.answer_throttles(response)
        user = request.__dict__.get("_user")
        if isinstance(user, PendingPrincipal) and not user.settled:
            try:
                user.verify()
            except Exception as exc:
                if isinstance(exc, exceptions.AuthenticationFailed):
                    request._not_authenticated()  # type: ignore[attr-defined]
                response = self.handle_exception(exc)
        return super().finalize_response(request, response, *args, **kwargs)

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook for subclasses to narrow (never widen) the owner's rows."""
        return queryset

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return super().filter_queryset(queryset)

    def get_object(self) -> Any:
        """The owner's row named in the URL (404 otherwise), permissions checked."""
        return super().get_object()

    def get_row(self, *fields: str) -> Any:
        """``get_object()``, read as a tuple of ``fields`` through ``owner_rows()``.

        The owner's row named in the URL (404 otherwise, as for a malformed id),
        the view's object permissions checked on it. The row is a named tuple of
        ``fields``, then the owner's id if not among them, with a ``pk``.
        """
        pk = _field(self.model, "pk")
        owner_id = _field(self.model, self.owner_field).attname
        names = fields if owner_id in fields else (*fields, owner_id)
        rows, lookup, value = self._url_lookup()

        def build(rows: QuerySet[Any]) -> QuerySet[Any]:
            return rows.filter(**{self.lookup_field: lookup}).values_list(*names)[:2]

        found = rows.read(("row", self.lookup_field, names), build, lookup=value)
        if not found:
            raise Http404
        if len(found) > 1:
            raise MultipleObjectsReturned
        row = _row_type(names, pk.attname)._make(found[0])
        self.check_object_permissions(self.request, row)
        return row

    def _url_lookup(self) -> tuple[OwnerRows, Slot, Any]:
        """The owner's rows after the filter backends (first, as in get_object()),
        the slot for the lookup field, and the URL's value for it; 404 for a
        value the field cannot take."""
        rows = self.owner_rows()
        field = _field(self.model, self.lookup_field)
        try:
            value = field.to_python(
                self.kwargs[self.lookup_url_kwarg or self.lookup_field]
            )
        except (TypeError, ValueError, ValidationError):
            raise Http404 from None
        return rows, Slot("lookup", field), value

    def get_row_condition(self) -> RowCondition:
        """The owner's row named in the URL, unread: the ``WHERE`` that selects it.

        The rows ``get_row()`` would read from (the owner's, after the filter
        backends), narrowed to the URL's id, for a write statement to hold, so
        that it can only ever touch this owner's row. Compiled once per shape;
        404 for a malformed id; for a folding action it carries the user check
        (``RowCondition.matched``). ``IsOwner``'s object permission is the owner
        condition itself; a view with other object permissions, which need the
        row read, is refused (``ImproperlyConfigured``).
        """
        needs_row = [
            permission
            for permission in self.permission_classes
            if permission not in OWNER_PERMISSIONS
            and getattr(permission, "has_object_permission", None)
            is not BasePermission.has_object_permission
        ]
        if needs_row:
            raise ImproperlyConfigured(
                f"{type(self).__name__} checks object permissions on the row "
                f"({needs_row}): read it with get_object() or get_row() instead."
            )
        rows, lookup, value = self._url_lookup()

        def build(rows: QuerySet[Any]) -> QuerySet[Any]:
            return rows.filter(**{self.lookup_field: lookup})

        return rows.condition(("row", self.lookup_field), build, lookup=value)

    def get_permissions(self) -> Sequence[Any]:
        return super().get_permissions()

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        """DRF's, released with the view once the response is rendered
        (``api.middleware.ReleaseRequestMiddleware``)."""
        serializer = super().get_serializer(*args, **kwargs)
        release_with_view(self, serializer)
        return serializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> Any:
        """Save a new row owned by the requester; returns it.

        For a folding create whose requester is still pending, the save gets the
        owner's id (``<owner_field>_id``) and ``owner_check``: the user check as a
        condition (``RowCondition``) that the statement writing the row must hold,
        calling its ``matched()`` when it wrote. The view's serializer takes both.
        """
        owner = self._requester()
        if not isinstance(owner, PendingPrincipal) or owner.settled:
            return serializer.save(**{self.owner_field: self.owner})
        field = _field(self.model, self.owner_field)
        check = _owner_check(self.model, field.target_field, owner)
        return serializer.save(**{field.attname: owner.pk, "owner_check": check})

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        super().check_object_permissions(request, obj)


@dataclass(frozen=True)
class OwnerRows:
    """One requester's rows of a view, after its filter backends, to read.

    They are the owner's queryset (``OwnerScopedViewSet._rows_of``) with the owner
    as a slot, bound to the requester whenever they are read.
    """

    view: type[OwnerScopedViewSet]
    owner: Any
    rows: QuerySet[Any]
    # The filter backends left the rows alone: a query's SQL depends on its key.
    unfiltered: bool
    # The rows carry the user check (OwnerScopedViewSet._rows_of); owner: pending.
    folded: bool = False

    def read(
        self,
        key: Hashable,
        build: Callable[[QuerySet[Any]], QuerySet[Any]],
        **values: Any,
    ) -> list[tuple[Any, ...]]:
        """The rows of ``build(rows)``, a ``values_list()`` query, as tuples.

        Its SQL must depend on ``key`` alone: what varies from one request to the
        next goes in as ``Slot(name, field)``, bound from ``values``. Unfiltered
        rows' SQL is compiled once per view class, database and key, and reused;
        filtered rows' for this read alone. The view's ``scope_queryset()`` must
        not depend on the request. Rows read with the user check folded in vouch
        for the (pending) owner.
        """
        alias = self.rows.db
        compiled = self._compiled(key, _compile, build)
        if compiled.sql is None:
            return []
        connection = connections[alias]
        params = _bind(compiled.params, values, self.owner, connection)
        with statement_cursor(connection) as cursor:
            if compiled.binary:
                # Only api.postgresql's connections say so (reads_in_binary).
                connection.read_binary(cursor)  # type: ignore[attr-defined]
            cursor.execute(compiled.sql, params)
            rows: list[Any] = cursor.fetchall()
        if self.folded and rows:
            self.owner.vouch()
        if compiled.columns is not None:
            rows = [row[: compiled.columns] for row in rows]
        if compiled.converted is not None:
            query, selected = compiled.converted
            compiler = query.get_compiler(alias)
            converters = compiler.get_converters(selected)
            rows = list(map(tuple, compiler.apply_converters(rows, converters)))
        return rows

    def condition(
        self,
        key: Hashable,
        build: Callable[[QuerySet[Any]], QuerySet[Any]],
        **values: Any,
    ) -> RowCondition:
        """The ``WHERE`` of ``build(rows)``, a query of the model's table alone
        (no joins: the condition is on its columns), with its parameters bound.

        Compiled once per shape as ``read()``'s SQL is, slots and all. For rows
        that carry the user check, so does the condition: a statement that reads
        a row through it vouches for the (pending) owner (``RowCondition.matched``).
        """
        alias = self.rows.db
        compiled = self._compiled(("where", key), _compile_condition, build)
        if compiled.sql is None:
            raise Http404
        params = _bind(compiled.params, values, self.owner, connections[alias])
        return RowCondition(
            compiled.sql, params, alias, self.owner if self.folded else None
        )

    def _compiled(
        self,
        key: Hashable,
        compile_: Callable[[QuerySet[Any]], _Compiled],
        build: Callable[[QuerySet[Any]], QuerySet[Any]],
    ) -> _Compiled:
        """``compile_(build(rows))``, kept per view class, database and ``key``
        when the filter backends left the rows alone (the SQL then depends on the
        key only); compiled for this request alone otherwise."""
        cache_key = (self.view, self.rows.db, key, self.folded)
        compiled = _COMPILED.get(cache_key) if self.unfiltered else None
        if compiled is None:
            compiled = compile_(build(self.rows))
            if self.unfiltered:
                if len(_COMPILED) >= _COMPILED_MAX:
                    _COMPILED.clear()
                _COMPILED[cache_key] = compiled
        return compiled


@dataclass(frozen=True)
class RowCondition:
    """A ``WHERE`` on one table's columns, its parameters bound, and the database
    alias to run it on (``OwnerScopedViewSet.get_row_condition``)."""

    sql: str
    params: list[Any]
    db: str
    # The requester whose user check the condition carries (a fold), else None.
    pending: PendingPrincipal | None = None

    def matched(self) -> None:
        """A statement read a row through the condition: the user check it carries
        held in that statement. The statement's caller says so, once it has the row."""
        if self.pending is not None:
            self.pending.vouch()


def _bind(
    params: Sequence[Any], values: dict[str, Any], owner: Any, connection: Any
) -> list[Any]:
    """A compiled query's parameters, its slots bound: the owner's id and token
    digest, and this read's ``values``."""
    return [
        p
        if not isinstance(p, Slot)
        else p.output_field.get_db_prep_value(
            owner.pk
            if p.name == _OWNER
            else owner.digest
            if p.name == _DIGEST
            else values[p.name],
            connection,
        )
        for p in params
    ]


# (model, database alias) -> the user check's SQL and parameters (_owner_check).
_OWNER_CHECKS: dict[tuple[type[Model], str], tuple[str, tuple[Any, ...]]] = {}


def _owner_check(
    model: type[Model], owner_target: Field[Any, Any], owner: PendingPrincipal
) -> RowCondition:
    """The user check of ``owner`` (``_user_check``) as a condition for a statement
    that writes a new row of ``model``; compiled once per model and database."""
    alias = router.db_for_write(model)
    compiled = _OWNER_CHECKS.get((model, alias))
    if compiled is None:
        query = model._default_manager.all().query
        check = _user_check(Slot(_OWNER, owner_target)).resolve_expression(query)
        sql, params = query.get_compiler(alias).compile(check)
        compiled = _OWNER_CHECKS[(model, alias)] = (sql, tuple(params))
    sql, params = compiled
    return RowCondition(sql, _bind(params, {}, owner, connections[alias]), alias, owner)


def _user_check(owner: Slot) -> Exists:
    """Whether the owner's user row exists, is active and has the password digest
    of the ``digest`` slot: the check ``accounts.authentication`` makes of a
    token's user (``upper(md5(...))`` is simplejwt's ``get_md5_hash_password``).
    Uncorrelated: PostgreSQL evaluates it once, before it reads any row."""
    user = get_user_model()._default_manager.filter(pk=owner, is_active=True)
    return Exists(
        user.alias(digest=Upper(MD5("password"))).filter(
            digest=Slot(_DIGEST, CharField())
        )
    )


def _compile_condition(queryset: QuerySet[Any]) -> _Compiled:
    """The ``WHERE`` of ``queryset`` (one table's rows, by conditions alone)."""
    query = queryset.query
    if query.count_active_tables() != 1 or query.is_sliced or query.combinator:
        raise TypeError("A row condition is on one table's columns alone.")
    try:
        sql, params = query.get_compiler(queryset.db).compile(query.where)
    except EmptyResultSet:
        return _Compiled(None, (), None, None)
    if not any(isinstance(p, Slot) and p.name == _OWNER for p in params):
        raise ImproperlyConfigured("A row condition is on the owner's rows.")
    return _Compiled(sql, tuple(params), None, None)


def _scoped_rows(
    view: OwnerScopedViewSet, folded: bool, slot: type[Slot]
) -> QuerySet[Any]:
    """``view``'s owner's rows (``_rows_of``) with the owner as a ``slot``, built
    once per view class."""
    key = (type(view), folded, slot)
    scoped = _SCOPED.get(key)
    if scoped is None:
        target = _field(view.model, view.owner_field).target_field
        scoped = _SCOPED[key] = view._rows_of(slot(_OWNER, target), folded=folded)
    return scoped


def _compile(queryset: QuerySet[Any]) -> _Compiled:
    """``queryset``'s SQL, its parameters (slots among them), how to read its rows."""
    if queryset._iterable_class is not ValuesListIterable:
        raise TypeError("owner_rows() reads values_list() queries only.")
    query = queryset.query
    compiler = query.get_compiler(queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return _Compiled(None, (), None, None)
    if not any(isinstance(p, Slot) and p.name == _OWNER for p in params):
        raise ImproperlyConfigured("owner_rows() reads queries of the owner's rows.")
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    if compiler.has_composite_fields(fields):
        raise TypeError("owner_rows() does not read composite fields.")
    # Every column the statement returns, the extra ones for ORDER BY included.
    reads_in_binary = getattr(compiler.connection, "reads_in_binary", None)
    binary = reads_in_binary is not None and reads_in_binary(
        [column[0].output_field for column in compiler.select]
    )
    return _Compiled(
        sql,
        tuple(params),
        (query, fields) if compiler.get_converters(fields) else None,
        compiler.col_count if compiler.has_extra_select else None,
        binary,
    )


@functools.cache
def _row_type(names: tuple[str, ...], pk: str) -> Any:
    """A named tuple of ``names`` whose ``pk`` is the primary key's column."""
    base = namedtuple("Row", names)  # type: ignore[misc]
    return type(
        "Row", (base,), {"__slots__": (), "pk": property(itemgetter(names.index(pk)))}
    )


def _field(model: type[Model], name: str) -> Any:
    """``model``'s field ``name`` (``pk``: its primary key)."""
    return model._meta.pk if name == "pk" else model._meta.get_field(name)
