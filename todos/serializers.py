"""The task representation, in and out."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from api.serializers import StrictInputMixin
from todos import services
from todos.filters import PRIORITY_BY_NAME
from todos.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task

NAME_BY_PRIORITY = {value: name for name, value in PRIORITY_BY_NAME.items()}


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
        fields = [
            "id",
            "title",
            "description",
            "status",
            "priority",
            "due_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "completed_at", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> Task:
        """New tasks go through the service (the view supplies the owner)."""
        return services.task_create(**validated_data)

    def to_representation(self, instance: Task) -> dict[str, Any]:
        """The document ModelSerializer makes from the fields above, made directly.

        The generic path walks nine field objects per task, which for a page of 50
        was a quarter of a list request's CPU. tests/todos/test_serializers.py holds
        this to the generic output.
        """
        zone = timezone.get_current_timezone()
        return {
            "id": str(instance.id),
            "title": str(instance.title),
            "description": str(instance.description),
            "status": str(instance.status),
            "priority": NAME_BY_PRIORITY[int(instance.priority)],
            "due_at": _rfc3339(instance.due_at, zone),
            "completed_at": _rfc3339(instance.completed_at, zone),
            "created_at": _rfc3339(instance.created_at, zone),
            "updated_at": _rfc3339(instance.updated_at, zone),
        }


def _rfc3339(value: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in ``zone``, UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# What PUT writes when a field is left out: a full replacement resets it.
PUT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "status": Task.Status.PENDING,
    "priority": Task.Priority.NORMAL,
    "due_at": None,
}


class ChangedTaskSerializer(serializers.Serializer[Any]):
    """One changed task of the changes feed: the task as GET shows it, its ETag."""

    etag = serializers.CharField(help_text="The task's ETag, as GET would send it.")
    task = TaskSerializer()


class ChangesSerializer(serializers.Serializer[Any]):
    """A page of ``GET /api/v1/tasks/changes/`` (docs/sync.md)."""

    changed = ChangedTaskSerializer(
        many=True, help_text="Tasks created or changed, oldest change first."
    )
    deleted = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Ids of tasks deleted (tombstones), oldest deletion first.",
    )
    since = serializers.CharField(
        help_text="Opaque token: pass it as ?since= for the next page or sync."
    )
    has_more = serializers.BooleanField(
        help_text="Whether more changes follow at once (fetch again with since)."
    )
