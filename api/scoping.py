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
- ``perform_create()`` sets the owner itself; the owner is never input.

A subclass that defines one of those members is a ``TypeError`` when the class is
created. It narrows the rows with ``scope_queryset()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import exceptions, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer

from api.permissions import IsOwner

OWNER_PERMISSIONS: tuple[type[BasePermission], ...] = (IsAuthenticated, IsOwner)

# What a subclass may not define: each is a way around the owner filter.
GUARDED_MEMBERS = (
    "queryset",
    "get_queryset",
    "filter_queryset",
    "get_object",
    "get_permissions",
    "perform_create",
)

_MISSING = object()


class OwnerScopedViewSet(viewsets.GenericViewSet[Any]):
    """A viewset over ``model`` that only ever sees the requester's rows."""

    model: ClassVar[type[Model]]
    owner_field: ClassVar[str] = "owner"
    permission_classes = list(OWNER_PERMISSIONS)

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
        """The requester, who owns every row this view reads or writes."""
        user = self.request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated
        return user

    def get_queryset(self) -> QuerySet[Any]:
        manager = self.model._default_manager
        if getattr(self, "swagger_fake_view", False):
            return manager.none()
        rows = manager.filter(**{self.owner_field: self.owner})
        return self.scope_queryset(rows)

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook for subclasses to narrow (never widen) the owner's rows."""
        return queryset

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return super().filter_queryset(queryset)

    def get_object(self) -> Any:
        """The owner's row named in the URL (404 otherwise), permissions checked."""
        return super().get_object()

    def get_permissions(self) -> Sequence[Any]:
        return super().get_permissions()

    def perform_create(self, serializer: BaseSerializer[Any]) -> Any:
        """Save a new row owned by the requester; returns it."""
        return serializer.save(**{self.owner_field: self.owner})

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        super().check_object_permissions(request, obj)
