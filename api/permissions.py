"""Object permission: the second line of defence behind the owner-scoped queryset."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsOwner(BasePermission):
    """Only the owner may touch an object. Scoping makes others' objects 404 first;
    this refuses loudly should a view ever hand one out anyway."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return bool(obj.owner_id == getattr(request.user, "pk", None))
