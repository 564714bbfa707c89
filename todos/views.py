"""Task endpoints under /api/v1/tasks/: scoping, preconditions, then services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django.urls import reverse
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.exceptions import PreconditionFailed
from config.api.serializers import StrictSerializer
from todos import services
from todos.filters import StrictFilterBackend, TaskFilter
from todos.models import Task
from todos.pagination import TaskCursorPagination
from todos.permissions import IsOwner
from todos.serializers import PUT_DEFAULTS, TaskSerializer


class OwnerScopedViewSet(viewsets.GenericViewSet[Any]):
    """The one place where a user's data is fenced off from everyone else's.

    ``get_queryset()`` returns only the requester's rows of ``model``, so lists
    never leak and another user's id is a 404 exactly like a missing one. A
    subclass may not replace that: defining ``queryset`` or ``get_queryset`` is a
    ``TypeError`` when the class is created.
    """

    model: ClassVar[type[Model]]
    owner_field: ClassVar[str] = "owner"
    permission_classes = [IsAuthenticated, IsOwner]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("queryset", "get_queryset"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} may not define {name}: owner scoping lives in "
                    "OwnerScopedViewSet.get_queryset (narrow it with scope_queryset)."
                )

    def get_queryset(self) -> QuerySet[Any]:
        manager = self.model._default_manager
        if getattr(self, "swagger_fake_view", False):
            return manager.none()
        user = self.request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated
        return self.scope_queryset(manager.filter(**{self.owner_field: user}))

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook for subclasses to narrow (never widen) the owner's rows."""
        return queryset


def etag_for(task: Task) -> str:
    """A strong validator that changes whenever the task does."""
    return f'"{task.pk}.{task.version}"'


def _matches(header: str, task: Task) -> bool:
    tags = parse_etags(header)
    return "*" in tags or etag_for(task) in tags


@contextmanager
def _service_errors() -> Iterator[None]:
    """The services' outcomes as HTTP errors: 412 for a stale version, 404 if gone."""
    try:
        yield
    except services.VersionMismatch:
        raise PreconditionFailed from None
    except services.TaskGone:
        raise exceptions.NotFound from None


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Only act if the task still has this ETag; otherwise 412.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Answer 304 with no body if the task still has this ETag.",
)
ETAG_HEADER = {"ETag": {"description": "The task's current version."}}


class TaskViewSet(
    mixins.ListModelMixin,
    OwnerScopedViewSet,
):
    """The requester's tasks."""

    model = Task
    serializer_class = TaskSerializer
    pagination_class = TaskCursorPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = TaskFilter
    extra_query_params = ("cursor", "page_size", "ordering")

    def _respond(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        headers = {"ETag": etag_for(task)}
        if code == status.HTTP_201_CREATED:
            headers["Location"] = self.request.build_absolute_uri(
                reverse("todos:task-detail", args=[task.pk])
            )
        return Response(self.get_serializer(task).data, status=code, headers=headers)

    def _check_if_match(self, task: Task) -> int | None:
        header = self.request.headers.get("If-Match")
        if header is None:
            return None
        if not _matches(header, task):
            raise PreconditionFailed
        return task.version

    @extend_schema(request=TaskSerializer, responses={201: TaskSerializer})
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(owner=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        return self._respond(task, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[IF_NONE_MATCH], responses={200: TaskSerializer, 304: None}
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        header = request.headers.get("If-None-Match")
        if header is not None and _matches(header, task):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag_for(task)}
            )
        return self._respond(task)

    def _write(self, request: Request, *, partial: bool) -> Response:
        task = self.get_object()
        expected = self._check_if_match(task)
        serializer = self.get_serializer(task, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if not partial:
            changes = {**PUT_DEFAULTS, **changes}
        return self._run(
            services.task_update, task=task, changes=changes, expected_version=expected
        )

    def _refuse_input(self) -> None:
        """Actions without input take no body or ``{}``; any key is unknown (400)."""
        StrictSerializer(data=self.request.data).is_valid(raise_exception=True)

    def _run(self, change: Callable[..., Task], **kwargs: Any) -> Response:
        with _service_errors():
            task = change(**kwargs)
        return self._respond(task)

    @extend_schema(parameters=[IF_MATCH], responses={200: TaskSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=False)

    @extend_schema(parameters=[IF_MATCH], responses={200: TaskSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._write(request, partial=True)

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        expected = self._check_if_match(task)
        with _service_errors():
            services.task_delete(task=task, expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, parameters=[IF_MATCH], responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """Mark the task completed. Completing a completed task changes nothing."""
        task = self.get_object()
        expected = self._check_if_match(task)
        self._refuse_input()
        return self._run(services.task_complete, task=task, expected_version=expected)

    @extend_schema(request=None, parameters=[IF_MATCH], responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Move a completed task back to pending. Reopening an open task is harmless."""
        task = self.get_object()
        expected = self._check_if_match(task)
        self._refuse_input()
        return self._run(services.task_reopen, task=task, expected_version=expected)
