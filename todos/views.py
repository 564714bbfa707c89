"""Task endpoints under /api/v1/tasks/: scoping, preconditions, then services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
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
from api.scoping import OwnerScopedViewSet
from api.serializers import NoInputSerializer
from todos import services
from todos.filters import StrictFilterBackend, TaskFilter
from todos.models import Task
from todos.pagination import TaskCursorPagination
from todos.serializers import PUT_DEFAULTS, TaskSerializer


@contextmanager
def _service_errors() -> Iterator[None]:
    """The services' outcomes as HTTP errors: 412 for a stale version, 404 if gone."""
    try:
        yield
    except services.VersionMismatch:
        raise PreconditionFailed from None
    except services.TaskGone:
        raise exceptions.NotFound from None


class TaskViewSet(mixins.ListModelMixin, OwnerScopedViewSet):
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

    @extend_schema(request=TaskSerializer, responses={201: TaskSerializer})
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = self.perform_create(serializer)
        return self._respond(task, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[IF_NONE_MATCH], responses={200: TaskSerializer, 304: None}
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        if not_modified(request, task):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag_for(task)}
            )
        return self._respond(task)

    def _write(self, request: Request, *, partial: bool) -> Response:
        task = self.get_object()
        expected = expected_version(request, task)
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
        NoInputSerializer(data=self.request.data).is_valid(raise_exception=True)

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
        expected = expected_version(request, task)
        with _service_errors():
            services.task_delete(task=task, expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=NoInputSerializer,
        parameters=[IF_MATCH],
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """Mark the task completed. Completing a completed task changes nothing."""
        task = self.get_object()
        expected = expected_version(request, task)
        self._refuse_input()
        return self._run(services.task_complete, task=task, expected_version=expected)

    @extend_schema(
        request=NoInputSerializer,
        parameters=[IF_MATCH],
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Move a completed task back to pending. Reopening an open task is harmless."""
        task = self.get_object()
        expected = expected_version(request, task)
        self._refuse_input()
        return self._run(services.task_reopen, task=task, expected_version=expected)
