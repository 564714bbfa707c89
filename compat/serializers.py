"""The task as Next.js + Better Auth front ends send and read it.

Lenient by design, unlike /api/v1/: unknown body fields are ignored, ``status`` is
read in any letter case, ``description`` may be null and ``completed`` stands for
the status. A bad value of a known field is still a 400 naming that field.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from todos.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task, TaskStatus
from todos.serializers import PriorityField, TaskSerializer


class CaseInsensitiveChoiceField(serializers.ChoiceField):
    """A choice matched in any letter case (front end E sends ``Pending``)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            data = data.strip().lower().replace(" ", "_").replace("-", "_")
        return super().to_internal_value(data)


class CompatTaskSerializer(serializers.Serializer[Task]):
    """Input ``{title, description, completed, status, priority, due_at}``, all
    optional on update; output ``{id, user_id, title, description, completed,
    created_at, updated_at, status, priority, due_at}``.

    ``validated_data`` is already in the model's terms (``completed`` turned into a
    status), so the services take it as it is.
    """

    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH,
        allow_blank=True,
        allow_null=True,
        required=False,
    )
    completed = serializers.BooleanField(required=False)
    status = CaseInsensitiveChoiceField(choices=TaskStatus.values, required=False)
    priority = PriorityField(required=False)
    due_at = serializers.DateTimeField(allow_null=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("description", "") is None:
            attrs["description"] = ""
        completed = attrs.pop("completed", None)
        if completed is None:
            return attrs
        status = attrs.get("status")
        if status is not None and (status == TaskStatus.COMPLETED) != completed:
            raise serializers.ValidationError(
                {"completed": "Contradicts the status sent with it."}
            )
        if completed:
            attrs["status"] = TaskStatus.COMPLETED
        elif status is None:
            current = self.instance.status if self.instance else TaskStatus.PENDING
            # completed=false reopens a completed task and leaves an open one as is.
            attrs["status"] = (
                TaskStatus.PENDING if current == TaskStatus.COMPLETED else current
            )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Task:
        return TaskSerializer().create(validated_data)

    def to_representation(self, instance: Task) -> dict[str, Any]:
        base = TaskSerializer().to_representation(instance)
        return {
            "id": base["id"],
            "user_id": self.context["user_id"],
            "title": base["title"],
            "description": base["description"] or None,
            "completed": base["status"] == TaskStatus.COMPLETED,
            "created_at": base["created_at"],
            "updated_at": base["updated_at"],
            "status": base["status"],
            "priority": base["priority"],
            "due_at": base["due_at"],
        }


class CompatListQuery(serializers.Serializer[Any]):
    """``?status=all|pending|completed&sort=created|title|due_date``; others ignored."""

    status = CaseInsensitiveChoiceField(
        choices=["all", "pending", "completed"], required=False, default="all"
    )
    sort = CaseInsensitiveChoiceField(
        choices=["created", "title", "due_date"], required=False, default="created"
    )
