"""The task representation, in and out."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.api.serializers import StrictInputMixin
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


# What PUT writes when a field is left out: a full replacement resets it.
PUT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "status": Task.Status.PENDING,
    "priority": Task.Priority.NORMAL,
    "due_at": None,
}
