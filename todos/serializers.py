"""The task representation, in and out."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from api.serializers import StrictInputMixin
from todos import services
from todos.models import (
    DESCRIPTION_MAX_LENGTH,
    NAME_BY_PRIORITY,
    PRIORITY_BY_NAME,
    TASK_FIELDS,
    TASK_READ_ONLY_FIELDS,
    TITLE_MAX_LENGTH,
    Task,
)


class PriorityField(serializers.ChoiceField):
    """Priorities travel as names (``low`` … ``urgent``) and are stored as ranks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=list(PRIORITY_BY_NAME), **kwargs)

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        return PRIORITY_BY_NAME[super().to_internal_value(data)]

    def to_representation(self, value: Any) -> str:
        return NAME_BY_PRIORITY[int(value)]


class TaskSerializer(StrictInputMixin, serializers.ModelSerializer[Task]):
    """``{id, title, description, status, priority, due_at, completed_at, ...}``.

    The owner is never part of the input: it is always the requester.
    """

    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False
    )
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    priority = PriorityField(required=False)
    due_at = serializers.DateTimeField(allow_null=True, required=False)

    class Meta:
        model = Task
        fields = TASK_FIELDS
        read_only_fields = TASK_READ_ONLY_FIELDS

    def create(self, validated_data: dict[str, Any]) -> Task:
        """New tasks go through the service (the view supplies the owner)."""
        return services.task_create(**validated_data)

    def to_representation(self, instance: Task) -> dict[str, Any]:
        """The document ModelSerializer makes from the fields above, made directly.

        The generic path walks nine field objects per task, which for a page of 50
        was a quarter of a list request's CPU. tests/todos/test_serializers.py holds
        this to the generic output.
        """
        return represent({name: getattr(instance, name) for name in ROW_FIELDS})


# The columns a representation reads: the list fetches only these, as dicts.
ROW_FIELDS = tuple(TaskSerializer.Meta.fields)


def represent(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task's document from its field values (a model's ``__dict__``, a row of
    ``values(*ROW_FIELDS)``); the list builds no model instances for its page."""
    zone = timezone.get_current_timezone()
    return {
        "id": str(row["id"]),
        "title": str(row["title"]),
        "description": str(row["description"]),
        "status": str(row["status"]),
        "priority": NAME_BY_PRIORITY[int(row["priority"])],
        "due_at": _rfc3339(row["due_at"], zone),
        "completed_at": _rfc3339(row["completed_at"], zone),
        "created_at": _rfc3339(row["created_at"], zone),
        "updated_at": _rfc3339(row["updated_at"], zone),
    }


def _rfc3339(value: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in ``zone``, UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# What PUT writes when a field is left out: a full replacement resets it to the
# model's default (every writable field but the required title).
PUT_DEFAULTS: dict[str, Any] = {
    field.name: field.get_default()
    for field in Task._meta.concrete_fields
    if field.name in ("description", "status", "priority", "due_at")
}
