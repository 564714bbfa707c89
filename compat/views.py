"""``/api/{user_id}/tasks``: the contract Next.js + Better Auth front ends call.

The same owner scoping as /api/v1/ (:class:`api.scoping.OwnerScopedViewSet`), the
same services, only Better Auth tokens. ``{user_id}`` is the token's subject: any
other value is a 403 answered from the verified token alone, before any database
read. docs/better-auth.md has the contract and its differences from /api/v1/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.scoping import OwnerScopedViewSet
from betterauth.authentication import BetterAuthAuthentication, verified_claims
from compat.errors import compat_exception_handler
from compat.parsers import LenientJSONParser
from compat.serializers import CompatListQuery, CompatTaskSerializer
from todos import services
from todos.models import Task, TaskStatus

ORDERINGS = {
    "created": [F("created_at").desc(), F("id").desc()],
    "title": [F("title").asc(), F("id").asc()],
    "due_date": [F("due_at").asc(nulls_last=True), F("id").asc()],
}


class CompatTaskViewSet(OwnerScopedViewSet):
    """One Better Auth user's tasks, as the front ends expect them."""

    model = Task
    serializer_class = CompatTaskSerializer
    authentication_classes = [BetterAuthAuthentication]
    parser_classes = [LenientJSONParser]
    filter_backends: list[Any] = []
    # Documented in docs/better-auth.md; the OpenAPI schema describes /api/v1/.
    schema = None

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return compat_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """403 for another user's path, from the token alone (no database read)."""
        if not settings.BETTER_AUTH_ENABLED:
            raise exceptions.NotFound
        claims = verified_claims(request)
        if claims is None:
            raise exceptions.NotAuthenticated
        if claims.subject != kwargs.get("user_id"):
            raise exceptions.PermissionDenied(
                "The user in the path is not the signed-in user."
            )
        super().initial(request, *args, **kwargs)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "user_id": self.kwargs["user_id"]}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        # An empty value (?status=) is the default, as these clients build URLs.
        params = {k: v for k, v in self.request.query_params.items() if v != ""}
        query = CompatListQuery(data=params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data["status"]
        if wanted == "pending":
            queryset = queryset.exclude(status=TaskStatus.COMPLETED)
        elif wanted == "completed":
            queryset = queryset.filter(status=TaskStatus.COMPLETED)
        return queryset.order_by(*ORDERINGS[query.validated_data["sort"]])

    def _respond(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(task).data, status=code)

    def list(self, request: Request, user_id: str) -> Response:
        """A bare array, newest first, at most ``BETTER_AUTH_COMPAT_LIST_MAX``."""
        tasks = self.get_queryset()[: settings.BETTER_AUTH_COMPAT_LIST_MAX]
        return Response(self.get_serializer(tasks, many=True).data)

    def create(self, request: Request, user_id: str) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = self.perform_create(serializer)
        return self._respond(task, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, user_id: str, pk: str) -> Response:
        return self._respond(self.get_object())

    def update(self, request: Request, user_id: str, pk: str) -> Response:
        """PUT and PATCH alike change only the fields they are given."""
        task = self.get_object()
        serializer = self.get_serializer(task, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return self._run(
            services.task_update, task=task, changes=dict(serializer.validated_data)
        )

    def destroy(self, request: Request, user_id: str, pk: str) -> Response:
        task = self.get_object()
        try:
            services.task_delete(task=task)
        except services.TaskGone:
            raise exceptions.NotFound from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    def toggle(self, request: Request, user_id: str, pk: str) -> Response:
        """Completed becomes pending, anything else completed; no body needed."""
        task = self.get_object()
        if task.status == TaskStatus.COMPLETED:
            return self._run(services.task_reopen, task=task)
        return self._run(services.task_complete, task=task)

    def _run(self, change: Callable[..., Task], **kwargs: Any) -> Response:
        try:
            task = change(**kwargs)
        except services.TaskGone:
            raise exceptions.NotFound from None
        return self._respond(task)
