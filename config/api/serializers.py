"""Serializer behaviour shared by every API input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError


class StrictInputMixin:
    """Refuse request bodies that are not objects or that carry unknown keys.

    A typo such as ``due_date`` must not be ignored silently. Read-only fields of
    the representation are known, so echoing a resource back is allowed; they are
    simply not written.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = set(self.fields)  # type: ignore[attr-defined]
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise ValidationError(
                    {key: ["Unknown field."] for key in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictInputMixin, serializers.Serializer[Any]):
    """A plain serializer that refuses unknown keys."""
