"""The task, list and label representations, in and out."""

from __future__ import annotations

import builtins
import copy
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import serializers

from api.principals import checked
from api.problems import Conflict
from api.serializers import StrictInputMixin, StrictSerializer
from todos import services
from todos.models import (
    DESCRIPTION_MAX_LENGTH,
    LABEL_NAME_MAX_LENGTH,
    LIST_NAME_MAX_LENGTH,
    NAME_BY_PRIORITY,
    PRIORITY_BY_NAME,
    TASK_FIELDS,
    TASK_READ_ONLY_FIELDS,
    TITLE_MAX_LENGTH,
    Color,
    Label,
    Task,
    TaskList,
)

# Labels on one task: more is a mistake, or an attempt at a huge request.
MAX_LABELS_PER_TASK = 100


class PriorityField(serializers.ChoiceField):
    """Priorities travel as names (``low`` … ``urgent``) and are stored as ranks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=list(PRIORITY_BY_NAME), **kwargs)

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        return PRIORITY_BY_NAME[super().to_internal_value(data)]

    def to_representation(self, value: Any) -> str:
        return NAME_BY_PRIORITY[int(value)]


class LabelIdsField(serializers.ListField):
    """A task's label ids: written as a list of ids, read from the task."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.UUIDField(),
            max_length=MAX_LABELS_PER_TASK,
            **kwargs,
        )

    def get_attribute(self, instance: Task) -> Any:
        return instance

    def to_representation(self, data: Any) -> list[str]:
        return services.task_labels(data)


_NOT_HELD = frozenset({"parent", "_args", "_kwargs"})


def _holding(field: serializers.Field[Any, Any, Any, Any]) -> set[str]:
    """The names of ``field``'s attributes that hold other fields: not the field it
    is bound to (``parent``), nor the arguments it was made with (``_args`` and
    ``_kwargs``, which DRF keeps to make new ones, never to validate)."""
    return {
        name
        for name, value in vars(field).items()
        if name not in _NOT_HELD
        and isinstance(value, serializers.Field | Mapping | Sequence)
        and not isinstance(value, str)
        and _mentions_field(value)
    }


def _mentions_field(value: Any) -> bool:
    if isinstance(value, serializers.Field):
        return True
    items = value.values() if isinstance(value, Mapping) else value
    return any(isinstance(item, serializers.Field) for item in items)


Copier = Callable[[serializers.Field[Any, Any, Any, Any]], Any]


def _copy(field: serializers.Field[Any, Any, Any, Any]) -> Any:
    """``copy.copy(field)``: a new instance with the same attributes, which is what
    the copy module makes of a field (fields define no ``__copy__``), without its
    detour through the pickling protocol (2.6 against 0.7 µs a field here)."""
    fresh = object.__new__(type(field))
    fresh.__dict__.update(field.__dict__)
    return fresh


def _copy_with_child(field: serializers.Field[Any, Any, Any, Any]) -> Any:
    """A ListField or DictField copied with a copy of its child bound to it.

    The field's ``__init__`` bound its child (``bind(field_name="", parent=...)``);
    the copy keeps what that set but the parent, which becomes the copy."""
    fresh = _copy(field)
    fresh.child = _copy(field.child)  # type: ignore[attr-defined]
    fresh.child.parent = fresh
    return fresh


def copier(field: serializers.Field[Any, Any, Any, Any]) -> Copier:
    """How to give a serializer instance its own copy of a field built once.

    A field that holds no others (and is no serializer) is ready to bind after a
    shallow copy: binding sets its name and parent on the copy, and what the copies
    share (validators, messages, choices) nothing changes after construction. A
    ListField or DictField whose only held field is a child that holds none gets
    that child copied and bound to it. Anything else is deep-copied, as DRF copies
    every declared field.
    """
    if _plain(field):
        return _copy
    child = getattr(field, "child", None)
    if (
        isinstance(field, serializers.ListField | serializers.DictField)
        and _holding(field) == {"child"}
        and _plain(child)
    ):
        return _copy_with_child
    return copy.deepcopy


def _plain(field: Any) -> bool:
    """A field that holds no others, now or once used (a serializer builds its
    fields when first asked)."""
    return (
        isinstance(field, serializers.Field)
        and not isinstance(field, serializers.BaseSerializer)
        and not _holding(field)
    )


def _requester(serializer: serializers.Serializer[Any]) -> Any:
    """The requester, checked: one a folded write has not vouched for yet is
    checked now (``api.principals``), as the queries below need a user."""
    request = serializer.context.get("request")
    if request is None:  # pragma: no cover - the views always pass it
        raise RuntimeError("The serializer needs the request in its context.")
    return checked(request.user)


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
    list = serializers.UUIDField(source="list_id", allow_null=True, required=False)
    labels = LabelIdsField(required=False)

    class Meta:
        model = Task
        fields = TASK_FIELDS
        read_only_fields = TASK_READ_ONLY_FIELDS

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """ModelSerializer's fields, built from the model once per class.

        ModelSerializer inspects the model and builds every field again for each
        instance, a fifth of a write's CPU; the fields depend on the model and the
        declarations above only. Each instance still gets fresh copies, as it gets
        fresh copies of the declared fields.
        """
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = {
                name: (field, copier(field))
                for name, field in super().get_fields().items()
            }
            type(self)._built_fields = built  # type: ignore[attr-defined]
        return {name: copy_(field) for name, (field, copy_) in built.items()}

    def get_validators(self) -> builtins.list[Any]:
        """ModelSerializer's validators (the model's unique constraints that the
        fields cover), worked out once per class, like the fields; a new list for
        each instance."""
        built = type(self).__dict__.get("_built_validators")
        if built is None:
            built = tuple(super().get_validators())
            type(self)._built_validators = built  # type: ignore[attr-defined]
        return builtins.list(built)

    def validate_list(self, value: Any) -> Any:
        """One of the requester's lists; another's is as unknown as a missing one."""
        if value is not None and not (
            TaskList.objects.filter(owner=_requester(self), pk=value).exists()
        ):
            raise serializers.ValidationError(
                "No list of yours has this id.", code="does_not_exist"
            )
        return value

    def validate_labels(self, value: Any) -> Any:
        """The requester's labels, each once; an unknown id is named, nothing else."""
        wanted = list(dict.fromkeys(value))
        if not wanted:
            return wanted  # nothing to look up (nor the requester to check)
        found = set(
            Label.objects.filter(owner=_requester(self), pk__in=wanted).values_list(
                "pk", flat=True
            )
        )
        unknown = [str(i) for i in wanted if i not in found]
        if unknown:
            raise serializers.ValidationError(
                f"No label of yours has the id {', '.join(unknown[:5])}.",
                code="does_not_exist",
            )
        return wanted

    def create(self, validated_data: dict[str, Any]) -> Task:
        """New tasks go through the service (the view supplies the owner)."""
        return services.task_create(**validated_data)

    def to_representation(self, instance: Task) -> dict[str, Any]:
        """The document ModelSerializer makes from the fields above, made directly.

        The generic path walks nine field objects per task, which for a page of 50
        was a quarter of a list request's CPU. tests/todos/test_serializers.py holds
        this to the generic output.
        """
        row = {name: getattr(instance, name) for name in _COLUMNS}
        return represent(row, labels=services.task_labels(instance))


# The columns a representation reads; the list fetches only these (and the label
# ids its page query reads, todos.expressions.TaskLabelIds), as dicts.
_COLUMNS = tuple(
    "list_id" if name == "list" else name for name in TASK_FIELDS if name != "labels"
)
# ``position`` is not shown, but the cursor of ``ordering=position`` is made of it.
ROW_FIELDS = (*_COLUMNS, "position", "label_ids")
_CREATED_AT = ROW_FIELDS.index("created_at")
_TIMES = ("due_at", "completed_at", "created_at", "updated_at")


def represent(
    row: Mapping[str, Any], labels: list[str] | None = None
) -> dict[str, Any]:
    """A task's document from its field values (a model's attributes, a row of
    ``values(*ROW_FIELDS)``); the list builds no model instances for its page.

    ``labels`` are the label ids as text; without them they come from the row's
    ``label_ids``.
    """
    zone = timezone.get_current_timezone()
    list_id = row["list_id"]
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
        "list": None if list_id is None else str(list_id),
        "labels": (
            labels if labels is not None else services.label_id_list(row["label_ids"])
        ),
    }


def _is_utc(zone: datetime.tzinfo | None) -> bool:
    return zone is not None and zone.utcoffset(None) == datetime.timedelta(0)


def documents(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The documents of ``rows``, tuples of ``ROW_FIELDS`` from one query.

    The same documents as :func:`represent`, but ids and times stay ``UUID`` and
    ``datetime`` objects for the JSON renderer (api.renderers) to write, which it
    does exactly as :func:`represent` spells them when both the current time zone
    and the rows' are UTC, as the settings make them. In any other zone, the
    documents are :func:`represent`'s.
    """
    # One query's times all come in the database session's zone: one tells.
    if rows and not (
        _is_utc(timezone.get_current_timezone())
        and _is_utc(rows[0][_CREATED_AT].tzinfo)
    ):
        return [represent(dict(zip(ROW_FIELDS, row, strict=True))) for row in rows]
    priority_name = NAME_BY_PRIORITY
    label_ids = services.label_id_list
    # Unpacked in the order of ROW_FIELDS (the parity tests hold them together).
    return [
        {
            "id": id_,
            "title": title,
            "description": description,
            "status": status,
            "priority": priority_name[priority],
            "due_at": due_at,
            "completed_at": completed_at,
            "created_at": created_at,
            "updated_at": updated_at,
            "list": list_id,
            "labels": label_ids(labels),
        }
        for (
            id_,
            title,
            description,
            status,
            priority,
            due_at,
            completed_at,
            created_at,
            updated_at,
            list_id,
            _position,
            labels,
        ) in rows
    ]


def document(task: Task) -> dict[str, Any]:
    """``TaskSerializer(task).data`` for a task a service wrote and returned: made as
    :func:`documents` makes a row's, when the task carries its label ids (the
    services set ``label_ids``) and its times are in UTC, as what the API reads and
    writes are (a caller may set another zone on an instance). Otherwise the
    serializer's."""
    if not hasattr(task, "label_ids") or not all(
        value is None or _is_utc(value.tzinfo)
        for value in (getattr(task, name) for name in _TIMES)
    ):
        return TaskSerializer(task).data
    (made,) = documents([tuple(getattr(task, name) for name in ROW_FIELDS)])
    return made


def _rfc3339(value: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in ``zone``, UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# What PUT writes when a field is left out: a full replacement resets it to the
# model's default (every writable field but the required title).
PUT_DEFAULTS: dict[str, Any] = {
    **{
        field.name: field.get_default()
        for field in Task._meta.concrete_fields
        if field.name in ("description", "status", "priority", "due_at")
    },
    "list_id": None,
    "labels": [],
}


class _NamedSerializer(StrictInputMixin, serializers.ModelSerializer[Any]):
    """The shared shape of lists and labels: a name unique per owner, a colour."""

    color = serializers.ChoiceField(
        choices=Color.choices, allow_null=True, required=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A name the requester already uses (any letter case) is a 409 on ``name``.

        A conflict with stored state rather than bad input: the same body succeeds
        once the other one is renamed.
        """
        name = attrs.get("name")
        model: Any = self.Meta.model
        mine = model.objects.filter(owner=_requester(self))
        if self.instance is not None:
            mine = mine.exclude(pk=self.instance.pk)
        if name is not None and services.name_taken_in(mine, name):
            raise Conflict(
                {
                    "name": [
                        f"You already have a {model._meta.verbose_name} with this name."
                    ]
                }
            )
        return attrs

    def to_representation(self, instance: Any) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        data = {
            "id": str(instance.id),
            "name": str(instance.name),
            "color": instance.color,
        }
        if isinstance(instance, TaskList):
            data["position"] = int(instance.position)
        data["created_at"] = _rfc3339(instance.created_at, zone)
        data["updated_at"] = _rfc3339(instance.updated_at, zone)
        return data


class TaskListSerializer(_NamedSerializer):
    """``{id, name, color, position, created_at, updated_at}``; lists come in order."""

    name = serializers.CharField(max_length=LIST_NAME_MAX_LENGTH)

    class Meta:
        model = TaskList
        fields = ["id", "name", "color", "position", "created_at", "updated_at"]
        read_only_fields = ["id", "position", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> TaskList:
        return services.task_list_create(**validated_data)


class LabelSerializer(_NamedSerializer):
    """``{id, name, color, created_at, updated_at}``."""

    name = serializers.CharField(max_length=LABEL_NAME_MAX_LENGTH)

    class Meta:
        model = Label
        fields = ["id", "name", "color", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> Label:
        return services.label_create(**validated_data)


class TaskMoveSerializer(StrictSerializer):
    """Where to put a task (a list): exactly one of ``before``, ``after``, ``to``.

    ``before`` and ``after`` name another task of the same list (another of the
    requester's lists).
    """

    openapi_request_extra: ClassVar[dict[str, Any]] = {
        "minProperties": 1,
        "maxProperties": 1,
    }

    before = serializers.UUIDField(
        required=False, help_text="Just before this one (of the same list)."
    )
    after = serializers.UUIDField(
        required=False, help_text="Just after this one (of the same list)."
    )
    to = serializers.ChoiceField(
        choices=list(services.MoveTo.CHOICES),
        required=False,
        help_text="First or last.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("before", "after", "to") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {
                    name: ["Give exactly one of before, after or to."]
                    for name in (given or ["before", "after", "to"])
                },
                code="invalid",
            )
        return attrs


class ChangedTaskSerializer(serializers.Serializer[Any]):
    """One changed task of the changes feed: the task as GET shows it, its ETag."""

    etag = serializers.CharField(help_text="The task's ETag, as GET would send it.")
    task = TaskSerializer()


class ChangedListSerializer(serializers.Serializer[Any]):
    """One changed list of the changes feed: the list as GET shows it, its ETag."""

    etag = serializers.CharField(help_text="The list's ETag, as GET would send it.")
    list = TaskListSerializer()


class ChangedLabelSerializer(serializers.Serializer[Any]):
    """One changed label of the changes feed: the label as GET shows it, its ETag."""

    etag = serializers.CharField(help_text="The label's ETag, as GET would send it.")
    # DRF's metaclass takes declared fields off the class, so the name does not
    # shadow Field.label at run time; mypy sees only the class body.
    label = LabelSerializer()  # type: ignore[assignment]


class ListChangesSerializer(serializers.Serializer[Any]):
    """The lists part of a changes page."""

    changed = ChangedListSerializer(
        many=True, help_text="Lists created, renamed, recoloured or moved."
    )
    deleted = serializers.ListField(
        child=serializers.UUIDField(), help_text="Ids of lists deleted."
    )


class LabelChangesSerializer(serializers.Serializer[Any]):
    """The labels part of a changes page."""

    changed = ChangedLabelSerializer(
        many=True, help_text="Labels created, renamed or recoloured."
    )
    deleted = serializers.ListField(
        child=serializers.UUIDField(), help_text="Ids of labels deleted."
    )


class ChangesSerializer(serializers.Serializer[Any]):
    """A page of ``GET /api/v1/tasks/changes/`` (docs/sync.md)."""

    changed = ChangedTaskSerializer(
        many=True, help_text="Tasks created or changed, oldest change first."
    )
    deleted = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Ids of tasks deleted (tombstones), oldest deletion first.",
    )
    lists = ListChangesSerializer(
        help_text=(
            "The lists changed and deleted in the same span of the sequence as "
            "the tasks: apply list and label changes before the tasks'."
        )
    )
    labels = LabelChangesSerializer(
        help_text="The labels changed and deleted in the same span of the sequence."
    )
    since = serializers.CharField(
        help_text="Opaque token: pass it as ?since= for the next page or sync."
    )
    has_more = serializers.BooleanField(
        help_text="Whether more changes follow at once (fetch again with since)."
    )
