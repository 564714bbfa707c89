"""Task, list and label endpoints under /api/v1/: scoping, preconditions, services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.conditional import (
    IF_MATCH,
    IF_NONE_MATCH,
    PreconditionFailed,
    etag_for,
    expected_version,
    not_modified,
)
from api.idempotency import IDEMPOTENCY_KEY, idempotent
from api.links import resource_path
from api.problems import PROBLEM_CONTENT_TYPE, Conflict
from api.schema import ProblemSerializer
from api.scoping import OwnerRows, OwnerScopedViewSet, RowCondition
from api.serializers import NoInputSerializer
from todos import batch, services
from todos import changes as feed
from todos.filters import StrictFilterBackend, TaskFilter
from todos.models import Label, Task, TaskList, TaskStatus
from todos.pagination import Stretch, TaskCursorPagination
from todos.serializers import (
    PUT_DEFAULTS,
    ROW_FIELDS,
    ChangesSerializer,
    LabelSerializer,
    TaskListSerializer,
    TaskMoveSerializer,
    TaskSerializer,
    document,
    documents,
)


@contextmanager
def _service_errors() -> Iterator[None]:
    """The services' outcomes as HTTP errors: 412 for a stale version, 404 if gone."""
    try:
        yield
    except services.VersionMismatch:
        raise PreconditionFailed from None
    except services.TaskGone:
        raise exceptions.NotFound from None
    except services.OwnerRefused:
        # The statement's user check failed; the view's guard (finalize_response)
        # checks the user on its own and answers its 401 instead.
        raise exceptions.AuthenticationFailed from None
    except services.ReferenceGone:
        raise exceptions.ValidationError(
            {"list": ["The list or a label was deleted meanwhile; read them again."]},
            code="does_not_exist",
        ) from None
    except services.NameTaken:
        raise Conflict({"name": ["You already have one with this name."]}) from None
    except services.LimitReached:
        raise Conflict("You have as many of these as one account may have.") from None


def _read_stretch(rows: OwnerRows, stretch: Stretch) -> list[tuple[Any, ...]]:
    """One range of a list page, read from the owner's rows."""

    def build(queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = queryset.filter(stretch.parametrized).order_by(*stretch.order)
        return queryset.values_list(*ROW_FIELDS)[: stretch.limit]

    return rows.read(("page", *stretch.shape), build, **stretch.values)


class TaskViewSet(mixins.ListModelMixin, OwnerScopedViewSet):
    """The requester's tasks."""

    model = Task
    serializer_class = TaskSerializer
    pagination_class = TaskCursorPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = TaskFilter
    extra_query_params = ("cursor", "page_size", "ordering")
    # On PostgreSQL the page or the row is read, or the row written, with the user
    # check in the same statement (api.scoping: owner_rows(), get_row_condition()
    # and perform_create()'s owner_check).
    fold_user_check = frozenset(
        {
            "list",
            "retrieve",
            "create",
            "update",
            "partial_update",
            "destroy",
            "complete",
            "reopen",
        }
    )

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Each task with its label ids, in the same query (no query per task)."""
        return queryset.with_label_ids()  # type: ignore[attr-defined]

    def list(self, request: Request) -> Response:
        """ListModelMixin's list, reading the page as tuples of the shown columns:
        no model instances, the same documents.

        Each range of the page is one query of the owner's (filtered) rows, whose
        SQL is compiled once per shape when no filter applies (``owner_rows``).
        """
        rows = self.owner_rows()
        paginator: TaskCursorPagination = self.paginator  # type: ignore[assignment]
        page = paginator.paginate(request, partial(_read_stretch, rows), ROW_FIELDS)
        return self.get_paginated_response(documents(page))

    def _respond(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        headers = {"ETag": etag_for(task)}
        if code == status.HTTP_201_CREATED:
            headers["Location"] = self.request.build_absolute_uri(
                resource_path("todos:task-detail", task.pk)
            )
        return Response(document(task), status=code, headers=headers)

    @extend_schema(
        request=TaskSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: TaskSerializer},
    )
    @idempotent()
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _service_errors():
            task = self.perform_create(serializer)
        return self._respond(task, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[IF_NONE_MATCH], responses={200: TaskSerializer, 304: None}
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """The task as a row (``get_row``): no model instance, the same document."""
        task = self.get_row(*ROW_FIELDS, "version")
        headers = {"ETag": etag_for(task)}
        if not_modified(request, task):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        (document,) = documents([task[: len(ROW_FIELDS)]])
        return Response(document, headers=headers)

    def _write(self, request: Request, *, partial: bool) -> Response:
        # No instance: validating a task's fields reads nothing of the stored task.
        serializer = self.get_serializer(data=request.data, partial=partial)
        with self._found_first():
            serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if not partial:
            changes = {**PUT_DEFAULTS, **changes}
        return self._run(changes=changes)

    def _target(self) -> RowCondition:
        """The task of the URL, unread: the owner's row with that id (after the
        filter backends, as get_object()), as the condition the write statement
        holds before it writes anything (``get_row_condition``)."""
        return self.get_row_condition()

    def _if_match(self) -> frozenset[int] | None:
        """The versions ``If-Match`` allows the task to be at; ``None`` for any.

        The ETags that name the task of the URL (``etag_for``: ``"<id>.<n>"``) give
        theirs; ``*`` and no header allow any.
        """
        header = self.request.headers.get("If-Match")
        if header is None:
            return None
        tags = parse_etags(header)
        if "*" in tags:
            return None
        # The lookup accepts any spelling of the id; an ETag has the canonical one.
        try:
            pk = uuid.UUID(str(self.kwargs[self.lookup_url_kwarg or self.lookup_field]))
        except ValueError:
            return frozenset()  # no such task: the write answers 404
        prefix = f'"{pk}.'
        versions = set()
        for tag in tags:
            version = tag[len(prefix) : -1]
            # Only what etag_for() writes: digits, no sign, no leading zero.
            if (
                tag.startswith(prefix)
                and tag.endswith('"')
                and version.isascii()
                and version.isdigit()
                and str(int(version)) == version
            ):
                versions.add(int(version))
        return frozenset(versions)

    @contextmanager
    def _found_first(self) -> Iterator[None]:
        """A 400 found before the task is read still comes after the 404 and 412
        that reading it and If-Match give (the order of get_object first)."""
        try:
            yield
        except exceptions.ValidationError:
            expected_version(self.request, self.get_object())
            raise

    def _refuse_input(self) -> None:
        """Actions without input take no body or ``{}``; any key is unknown (400)."""
        with self._found_first():
            NoInputSerializer(data=self.request.data).is_valid(raise_exception=True)

    def _run(self, **kwargs: Any) -> Response:
        """``task_update_one(**kwargs)`` of the task of the URL, at a version
        If-Match allows; the task as written."""
        with _service_errors():
            task = services.task_update_one(
                rows=self._target(), versions=self._if_match(), **kwargs
            )
        return self._respond(task)

    @extend_schema(parameters=[IF_MATCH], responses={200: TaskSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=False)

    @extend_schema(parameters=[IF_MATCH], responses={200: TaskSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=True)

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        with _service_errors():
            services.task_delete_one(rows=self._target(), versions=self._if_match())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=NoInputSerializer,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent()
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """Mark the task completed. Completing a completed task changes nothing."""
        self._refuse_input()
        return self._run(changes={"status": TaskStatus.COMPLETED})

    @extend_schema(
        request=NoInputSerializer,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent()
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Move a completed task back to pending. Reopening an open task is harmless."""
        self._refuse_input()
        return self._run(
            changes={"status": TaskStatus.PENDING},
            when={"status": TaskStatus.COMPLETED},
        )

    @extend_schema(
        summary="Changes since a sync token (offline sync)",
        description=(
            "The tasks created or changed and the ids of the tasks deleted since "
            "`since`, oldest change first, likewise the lists and labels (under "
            "`lists` and `labels`), and a new token. Without `since`, "
            "everything. Apply every page in order and repeat with the returned "
            "token while `has_more` is true: the local copy then equals the "
            "server's. See docs/sync.md."
        ),
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.STR,
                description=(
                    "The token of the previous page or sync; leave out for a full "
                    "sync. Another user's or a tampered token is a 400; an expired "
                    "one is a 410 (sync again without it)."
                ),
            ),
            OpenApiParameter(
                "limit",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": feed.MAX_LIMIT,
                    "default": feed.DEFAULT_LIMIT,
                },
                description=(
                    f"Changes per page, 1 to {feed.MAX_LIMIT} "
                    f"(default {feed.DEFAULT_LIMIT})."
                ),
            ),
        ],
        responses={
            200: ChangesSerializer,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer,
                description=(
                    "A bad `limit`, an unknown parameter, or a token that is not "
                    "the requester's; `errors` names it."
                ),
            ),
            (410, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer,
                description=(
                    "The token is older than the tombstone retention "
                    "(type urn:taskapi:problem:sync-token-expired): discard the "
                    "local copy and sync again without `since`."
                ),
            ),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="changes",
        pagination_class=None,
        filter_backends=[],
    )
    def changes(self, request: Request) -> Response:
        """The changes feed of the requester's tasks, lists and labels."""
        position, limit = self._changes_params(request)
        page = feed.changes_since(owner=self.owner, position=position, limit=limit)
        serializer = self.get_serializer
        body = {
            "changed": [
                {"etag": etag_for(task), "task": serializer(task).data}
                for task in page.changed
            ],
            "deleted": [str(task_id) for task_id in page.deleted],
            "lists": {
                "changed": [
                    {"etag": etag_for(row), "list": TaskListSerializer(row).data}
                    for row in page.lists_changed
                ],
                "deleted": [str(pk) for pk in page.lists_deleted],
            },
            "labels": {
                "changed": [
                    {"etag": etag_for(row), "label": LabelSerializer(row).data}
                    for row in page.labels_changed
                ],
                "deleted": [str(pk) for pk in page.labels_deleted],
            },
            "since": feed.dump_token(owner=self.owner, position=page.position),
            "has_more": page.more,
        }
        return Response(body)

    def _changes_params(self, request: Request) -> tuple[feed.Position, int]:
        params = request.query_params
        errors = {
            name: ["Unknown query parameter."]
            for name in sorted(set(params) - {"since", "limit"})
        }
        limit = feed.DEFAULT_LIMIT
        if "limit" in params:
            raw = params["limit"]
            limit = int(raw) if raw.isascii() and raw.isdigit() else 0
            if not 1 <= limit <= feed.MAX_LIMIT:
                errors["limit"] = [f"Must be an integer from 1 to {feed.MAX_LIMIT}."]
        if errors:
            raise exceptions.ValidationError(errors, code="invalid")
        if "since" not in params:
            return feed.START, limit
        return feed.load_token(owner=self.owner, token=params["since"]), limit

    @extend_schema(
        summary="Apply up to 100 task operations atomically",
        description=(
            "`operations` run in order in one transaction: all apply or none does. "
            "Each is `{op, id?, if_match?, task?}` with op one of create, update "
            "(PATCH semantics), replace (PUT), delete, complete, reopen. The answer "
            "lists each operation's result (status, id, task, etag). On the first "
            "failing operation nothing is applied and the answer is that "
            "operation's problem (400, 404 or 412) whose `errors` point into the "
            "request, e.g. `/operations/3/task/title`. See docs/sync.md."
        ),
        request=batch.BulkRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: batch.BulkResponseSerializer,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer,
                description=(
                    "An operation names a task that is not the requester's; "
                    "nothing was applied. `errors[0].pointer` names it."
                ),
            ),
            (412, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer,
                description=(
                    "An operation's if_match no longer matches; nothing was "
                    "applied. `errors[0].pointer` names it."
                ),
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk",
        pagination_class=None,
        filter_backends=[],
    )
    @idempotent()
    def bulk(self, request: Request) -> Response:
        """Many operations, one transaction (todos/batch.py)."""
        envelope = batch.BulkRequestSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        results = batch.Batch(
            owner=self.owner,
            rows=self.get_queryset(),
            operations=envelope.validated_data["operations"],
            context=self.get_serializer_context(),
        ).run()
        return Response({"results": results})

    @extend_schema(
        request=TaskMoveSerializer,
        parameters=[IF_MATCH],
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Put the task before or after another task of its list, or at one end.

        ``ordering=position`` (with ``list=``) lists a list in this order.
        """
        task = self.get_object()
        expected = expected_version(request, task)
        serializer = TaskMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        where = dict(serializer.validated_data)
        with _service_errors():
            try:
                moved = services.task_move(
                    task=task, expected_version=expected, **where
                )
            except services.MoveTargetInvalid:
                field = "before" if "before" in where else "after"
                raise exceptions.ValidationError(
                    {field: ["No other task of this task's list has this id."]},
                    code="does_not_exist",
                ) from None
        return self._respond(moved)


class _NamedViewSet(mixins.ListModelMixin, OwnerScopedViewSet):
    """CRUD for the requester's lists or labels, conditional like tasks.

    A user has a few hundred at most (``services.MAX_LISTS_PER_USER``), so the
    collection is one unpaginated array, as task apps fetch their sidebar.
    """

    pagination_class = None
    filter_backends: list[Any] = []
    location_name: str
    # A name in use (in any letter case), or the per-user limit.
    write_problems = (status.HTTP_409_CONFLICT,)

    def _respond(self, obj: Any, code: int = status.HTTP_200_OK) -> Response:
        headers = {"ETag": etag_for(obj)}
        if code == status.HTTP_201_CREATED:
            headers["Location"] = self.request.build_absolute_uri(
                resource_path(self.location_name, obj.pk)
            )
        return Response(self.get_serializer(obj).data, status=code, headers=headers)

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _service_errors():
            obj = self.perform_create(serializer)
        return self._respond(obj, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        if not_modified(request, obj):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag_for(obj)}
            )
        return self._respond(obj)

    def _write(self, request: Request, *, partial: bool) -> Response:
        obj = self.get_object()
        expected = expected_version(request, obj)
        serializer = self.get_serializer(obj, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if not partial:
            changes.setdefault("color", None)
        with _service_errors():
            obj = services.named_update(
                obj=obj, changes=changes, expected_version=expected
            )
        return self._respond(obj)

    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=False)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=True)


def _named_schema(serializer: type[Any]) -> Any:
    """The OpenAPI of a list or label viewset's reads and writes."""
    return extend_schema_view(
        create=extend_schema(request=serializer, responses={201: serializer}),
        retrieve=extend_schema(
            parameters=[IF_NONE_MATCH], responses={200: serializer, 304: None}
        ),
        update=extend_schema(parameters=[IF_MATCH], responses={200: serializer}),
        partial_update=extend_schema(
            parameters=[IF_MATCH], responses={200: serializer}
        ),
    )


DELETE_TASKS = OpenApiParameter(
    "tasks",
    str,
    OpenApiParameter.QUERY,
    required=True,
    enum=list(services.TasksOfDeletedList.CHOICES),
    description=(
        "What becomes of the list's tasks: move_to_inbox, or delete. Required: "
        "nothing is deleted by default."
    ),
)


@_named_schema(TaskListSerializer)
class TaskListViewSet(_NamedViewSet):
    """The requester's lists, in their order."""

    model = TaskList
    serializer_class = TaskListSerializer
    location_name = "todos:list-detail"

    @extend_schema(
        request=TaskMoveSerializer,
        parameters=[IF_MATCH],
        responses={200: TaskListSerializer},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Put the list before or after another of the requester's, or at one end."""
        task_list = self.get_object()
        expected = expected_version(request, task_list)
        serializer = TaskMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        where = dict(serializer.validated_data)
        with _service_errors():
            try:
                moved = services.task_list_move(
                    task_list=task_list, expected_version=expected, **where
                )
            except services.MoveTargetInvalid:
                field = "before" if "before" in where else "after"
                raise exceptions.ValidationError(
                    {field: ["No other list of yours has this id."]},
                    code="does_not_exist",
                ) from None
        return self._respond(moved)

    @extend_schema(parameters=[DELETE_TASKS, IF_MATCH], responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        task_list = self.get_object()
        expected = expected_version(request, task_list)
        params = set(request.query_params) - {"tasks"}
        if params:
            raise exceptions.ValidationError(
                {name: ["Unknown query parameter."] for name in sorted(params)},
                code="unknown_parameter",
            )
        tasks = request.query_params.get("tasks")
        if tasks not in services.TasksOfDeletedList.CHOICES:
            raise exceptions.ValidationError(
                {
                    "tasks": [
                        "Say what becomes of the list's tasks: "
                        "tasks=move_to_inbox or tasks=delete."
                    ]
                },
                code="required",
            )
        with _service_errors():
            services.task_list_delete(
                task_list=task_list, tasks=tasks, expected_version=expected
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


@_named_schema(LabelSerializer)
class LabelViewSet(_NamedViewSet):
    """The requester's labels, by name."""

    model = Label
    serializer_class = LabelSerializer
    location_name = "todos:label-detail"

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.order_by(Lower("name"), "id")

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        label = self.get_object()
        expected = expected_version(request, label)
        with _service_errors():
            services.label_delete(label=label, expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)
