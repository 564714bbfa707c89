"""``POST /api/v1/tasks/bulk/``: up to 100 task operations, all applied or none.

The operations run in order in one transaction. The first that fails rolls every
one back and becomes the answer: a problem whose ``errors`` point into the request
(``/operations/3/task/title``, ``/operations/5/id``), with that operation's status:
400 for invalid input, 404 for a task that is not the requester's (exactly as for
a missing one), 412 for an ``if_match`` that no longer matches. The owner's tasks
named by the batch are read in one query; each operation then costs what the same
single request costs, so the query count grows with the number of operations only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import exceptions, serializers, status

from api.conditional import etag_for, etag_matches
from api.schema import NOT_BLANK_TEXT_PATTERN
from api.serializers import StrictSerializer
from todos import services
from todos.models import Task
from todos.serializers import PUT_DEFAULTS, TaskSerializer

MAX_OPERATIONS = 100
OPS = ("create", "update", "replace", "delete", "complete", "reopen")


class OperationSerializer(StrictSerializer):
    """One operation. ``task`` is the body of the matching single request."""

    op = serializers.ChoiceField(choices=OPS)
    id = serializers.UUIDField(required=False)
    if_match = serializers.CharField(
        required=False, help_text="The task's ETag: act only if it still has it."
    )
    task = serializers.DictField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        op = attrs["op"]
        errors: dict[str, Any] = {}
        if op == "create":
            for name in ("id", "if_match"):
                if name in attrs:
                    errors[name] = ["Not allowed for create."]
        elif "id" not in attrs:
            errors["id"] = ["This field is required."]
        if op in {"create", "update", "replace"}:
            if "task" not in attrs:
                errors["task"] = ["This field is required."]
        elif "task" in attrs:
            errors["task"] = [f"Not allowed for {op}."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class BulkRequestSerializer(StrictSerializer):
    operations = OperationSerializer(  # type: ignore[call-arg]
        many=True, allow_empty=False, max_length=MAX_OPERATIONS
    )


def _operation_schema(ops: list[str], task: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"op": {"type": "string", "enum": ops}}
    required = ["op"]
    if ops != ["create"]:
        properties["id"] = {"type": "string", "format": "uuid"}
        properties["if_match"] = {
            "type": "string",
            "pattern": NOT_BLANK_TEXT_PATTERN,
            "description": "The task's ETag: act only if it still has it (412).",
        }
        required.append("id")
    if task is not None:
        properties["task"] = {"$ref": f"#/components/schemas/{task}"}
        required.append("task")
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


# The request as OpenAPI: which keys each op takes, as the serializers enforce.
BULK_REQUEST_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["operations"],
    "properties": {
        "operations": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_OPERATIONS,
            "items": {
                "oneOf": [
                    _operation_schema(["create"], "TaskRequest"),
                    _operation_schema(["update"], "PatchedTaskRequest"),
                    _operation_schema(["replace"], "TaskRequest"),
                    _operation_schema(["delete", "complete", "reopen"], None),
                ]
            },
        }
    },
}


class BulkResultSerializer(serializers.Serializer[Any]):
    op = serializers.ChoiceField(choices=OPS)
    status = serializers.IntegerField(help_text="What the single request answers.")
    id = serializers.UUIDField()
    etag = serializers.CharField(required=False, help_text="Absent for a delete.")
    task = TaskSerializer(required=False, help_text="Absent for a delete.")


class BulkResponseSerializer(serializers.Serializer[Any]):
    results = BulkResultSerializer(many=True)


class OperationNotFound(exceptions.APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = (
        "An operation names a task that does not exist; nothing was applied."
    )
    default_code = "not_found"


class OperationPreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = (
        "An operation's if_match no longer matches its task; nothing was applied."
    )
    default_code = "precondition_failed"


def _at(index: int, field: str, message: str, code: str) -> dict[str, Any]:
    return {
        "operations": {
            str(index): {field: [exceptions.ErrorDetail(message, code=code)]}
        }
    }


@dataclass
class Batch:
    """The operations of one request, for ``owner``, on the tasks of ``rows``.

    ``rows`` is the view's owner-scoped queryset: the one place of isolation.
    """

    owner: Any
    rows: QuerySet[Task]
    operations: list[dict[str, Any]]
    context: Mapping[str, Any]

    def run(self) -> list[dict[str, Any]]:
        """Apply every operation, or none; the per-operation results."""
        with transaction.atomic():
            ids = {op["id"] for op in self.operations if "id" in op}
            tasks: dict[uuid.UUID, Task] = {
                task.pk: task for task in self.rows.filter(pk__in=ids)
            }
            return [
                self._apply(index, op, tasks)
                for index, op in enumerate(self.operations)
            ]

    def _apply(
        self, index: int, op: dict[str, Any], tasks: dict[uuid.UUID, Task]
    ) -> dict[str, Any]:
        kind = op["op"]
        if kind == "create":
            fields = self._validated(index, op["task"], None, partial=False)
            created = services.task_create(owner=self.owner, **fields)
            return self._result(kind, status.HTTP_201_CREATED, created)
        found = tasks.get(op["id"])
        if found is None:
            raise OperationNotFound(_at(index, "id", "No such task.", "not_found"))
        task: Task = found
        expected = None
        if "if_match" in op:
            if not etag_matches(op["if_match"], task):
                raise self._stale(index)
            expected = task.version
        try:
            if kind == "delete":
                services.task_delete(task=task, expected_version=expected)
                del tasks[task.pk]
                return {"op": kind, "status": 204, "id": str(task.pk)}
            if kind in {"update", "replace"}:
                changes = self._validated(
                    index, op["task"], task, partial=kind == "update"
                )
                if kind == "replace":
                    changes = {**PUT_DEFAULTS, **changes}
                task = services.task_update(
                    task=task, changes=changes, expected_version=expected
                )
            elif kind == "complete":
                task = services.task_complete(task=task, expected_version=expected)
            else:
                task = services.task_reopen(task=task, expected_version=expected)
        except services.VersionMismatch:
            raise self._stale(index) from None
        except services.TaskGone:
            raise OperationNotFound(
                _at(index, "id", "No such task.", "not_found")
            ) from None
        tasks[task.pk] = task
        return self._result(kind, status.HTTP_200_OK, task)

    def _stale(self, index: int) -> OperationPreconditionFailed:
        return OperationPreconditionFailed(
            _at(index, "if_match", "The task has another ETag now.", "stale")
        )

    def _validated(
        self, index: int, data: Any, task: Task | None, *, partial: bool
    ) -> dict[str, Any]:
        serializer = TaskSerializer(
            task, data=data, partial=partial, context=dict(self.context)
        )
        if not serializer.is_valid():
            raise exceptions.ValidationError(
                {"operations": {str(index): {"task": serializer.errors}}}
            )
        return dict(serializer.validated_data)

    def _result(self, kind: str, code: int, task: Task) -> dict[str, Any]:
        return {
            "op": kind,
            "status": code,
            "id": str(task.pk),
            "etag": etag_for(task),
            "task": TaskSerializer(task, context=dict(self.context)).data,
        }


class BulkRequestSchema(OpenApiSerializerExtension):
    """The request's OpenAPI schema: one shape per op (a serializer cannot say)."""

    target_class = BulkRequestSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return BULK_REQUEST_SCHEMA
