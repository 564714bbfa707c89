"""TaskSerializer's hand-built representation is DRF's generic one, exactly."""

from __future__ import annotations

import copy
import datetime
import json
import uuid
import zoneinfo
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import renderers, serializers

from api import renderers as api_renderers
from api.conditional import etag_for
from tests.factories import TaskFactory
from todos import services
from todos.models import Task
from todos.serializers import (
    ROW_FIELDS,
    TaskSerializer,
    copier,
    document,
    documents,
    represent,
)
from todos.views import TaskViewSet

pytestmark = pytest.mark.django_db

BERLIN = datetime.timezone(datetime.timedelta(hours=2))


def _generic(task: Task) -> dict:
    serializer = TaskSerializer(task)
    return dict(serializers.ModelSerializer.to_representation(serializer, task))


def _tasks(user) -> list[Task]:
    plain = TaskFactory.create(owner=user, description="")
    dated = TaskFactory.create(
        owner=user,
        title="Dated",
        priority=Task.Priority.URGENT,
        due_at=datetime.datetime(2031, 1, 31, 17, 0, 0, 123456, tzinfo=BERLIN),
    )
    done = services.task_complete(task=TaskFactory.create(owner=user))
    started = services.task_update(
        task=TaskFactory.create(owner=user),
        changes={"status": Task.Status.IN_PROGRESS, "priority": Task.Priority.LOW},
    )
    fresh = services.task_create(owner=user, title="New", status=Task.Status.COMPLETED)
    task_list = services.task_list_create(owner=user, name="Work")
    labels = [services.label_create(owner=user, name=n).pk for n in ("b", "a")]
    organised = services.task_create(
        owner=user, title="Filed", list_id=task_list.pk, labels=labels
    )
    stored = list(Task.objects.filter(owner=user))
    # As the list endpoint reads them: label ids aggregated in the page query.
    annotated = list(TaskViewSet().scope_queryset(Task.objects.filter(owner=user)))
    return [plain, dated, done, started, fresh, organised, *stored, *annotated]


def test_a_tasks_list_and_labels_read_the_same_every_way(user):
    tasks = _tasks(user)
    organised = [t for t in tasks if t.title == "Filed"]

    assert len(organised) == 3
    for task in organised:
        data = TaskSerializer(task).data
        assert data["list"] == str(task.list_id)
        assert len(data["labels"]) == 2
        assert data["labels"] == sorted(data["labels"])
    assert len({json.dumps(TaskSerializer(t).data) for t in organised}) == 1


def test_the_representation_matches_the_generic_one_field_for_field(user):
    for task in _tasks(user):
        data = TaskSerializer(task).data

        assert data == _generic(task)
        assert list(data) == list(_generic(task))
        assert json.dumps(data) == json.dumps(_generic(task))


def test_it_matches_in_another_current_time_zone_too(user):
    tasks = _tasks(user)
    with timezone.override("America/New_York"):
        for task in tasks:
            assert TaskSerializer(task).data == _generic(task)
            assert TaskSerializer(task).data["created_at"][-6:] in {"-05:00", "-04:00"}


def test_utc_times_end_in_z(user):
    task = TaskFactory.create(
        owner=user, due_at=datetime.datetime(2031, 1, 31, 17, 0, tzinfo=datetime.UTC)
    )

    assert TaskSerializer(task).data["due_at"] == "2031-01-31T17:00:00Z"


def _scoped_rows(user) -> list[tuple]:
    """The list's own rows: the owner's, with their label ids aggregated."""
    scoped = TaskViewSet().scope_queryset(Task.objects.filter(owner=user))
    return list(scoped.values_list(*ROW_FIELDS))


def _as_drf_renders(response, tasks) -> bytes:
    """The list's body as DRF's own renderer writes the serializer's documents."""
    body = response.json()
    by_id = {str(task.pk): TaskSerializer(task).data for task in tasks}
    page = {
        "next": body["next"],
        "previous": body["previous"],
        "results": [by_id[row["id"]] for row in body["results"]],
    }
    return renderers.JSONRenderer().render(page)


def test_the_lists_rows_make_the_same_documents_as_the_instances(user, auth_client):
    """The list reads ``values_list(*ROW_FIELDS)`` tuples, not model instances."""
    tasks = _tasks(user)
    by_id = {str(task.pk): TaskSerializer(task).data for task in tasks}
    response = auth_client.get("/api/v1/tasks/", {"page_size": 200})
    listed = response.json()["results"]
    assert {row["id"] for row in listed} == set(by_id)
    for row in listed:
        assert row == by_id[row["id"]]
        assert list(row) == list(by_id[row["id"]])
    for row in _scoped_rows(user):
        stored = _generic(Task.objects.get(pk=row[0]))
        assert represent(dict(zip(ROW_FIELDS, row, strict=True))) == stored


def test_the_lists_bytes_are_drfs_rendering_of_the_serializers_documents(
    user, auth_client
):
    """Ids and times reach the renderer as objects; it writes what DRF writes."""
    tasks = _tasks(user)
    whole = auth_client.get("/api/v1/tasks/", {"page_size": 200})
    first = auth_client.get("/api/v1/tasks/", {"page_size": 2})
    second = auth_client.get(first.json()["next"])

    for response in (whole, first, second):
        assert response.content == _as_drf_renders(response, tasks)
    assert len(second.json()["results"]) == 2


def test_the_lists_bytes_are_drfs_in_another_current_time_zone_too(user, auth_client):
    tasks = _tasks(user)
    with timezone.override("America/New_York"):
        response = auth_client.get("/api/v1/tasks/", {"page_size": 200})
        assert response.content == _as_drf_renders(response, tasks)
    assert response.json()["results"][0]["created_at"][-6:] in {"-05:00", "-04:00"}


def _in_zone(rows: list[tuple], zone: datetime.tzinfo) -> list[tuple]:
    """The rows as a database session in ``zone`` would give them."""
    return [
        tuple(
            v.astimezone(zone) if isinstance(v, datetime.datetime) else v for v in row
        )
        for row in rows
    ]


@pytest.mark.parametrize(
    "zone",
    [
        datetime.UTC,
        zoneinfo.ZoneInfo("UTC"),
        BERLIN,
        zoneinfo.ZoneInfo("Europe/London"),
    ],
    ids=str,
)
def test_documents_are_represents_unless_the_rows_times_are_in_utc(user, zone):
    """Only times in UTC go to the renderer as they are; any other zone (even one
    whose offset is zero on some dates) makes represent()'s text."""
    _tasks(user)
    rows = _in_zone(_scoped_rows(user), zone)
    expected = [represent(dict(zip(ROW_FIELDS, row, strict=True))) for row in rows]

    made = documents(rows)

    assert [json.loads(renderers.JSONRenderer().render(d)) for d in made] == expected
    if zone.utcoffset(None) == datetime.timedelta(0):
        assert isinstance(made[0]["created_at"], datetime.datetime)
        assert isinstance(made[0]["id"], uuid.UUID)
    else:
        assert made == expected


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_the_details_bytes_and_etag_are_the_serializers_and_the_models(
    user, auth_client, zone
):
    """The detail reads a row, not a model; its body and ETag are the same."""
    _tasks(user)
    stored = list(Task.objects.filter(owner=user))
    assert stored
    with timezone.override(zone):
        for task in stored:
            response = auth_client.get(f"/api/v1/tasks/{task.pk}/")
            expected = renderers.JSONRenderer().render(TaskSerializer(task).data)
            assert response.content == expected
            assert response["ETag"] == etag_for(task)


def test_the_fields_built_once_are_modelserializers_and_each_instance_has_its_own():
    from rest_framework import serializers as drf

    first, second = TaskSerializer(), TaskSerializer()
    assert list(first.fields) == list(second.fields)
    for name, field in first.fields.items():
        assert field is not second.fields[name]
        assert field.parent is first
    built = drf.ModelSerializer.get_fields(TaskSerializer())
    assert {name: repr(field) for name, field in built.items()} == {
        name: repr(field) for name, field in TaskSerializer().get_fields().items()
    }
    labels, others = first.fields["labels"], second.fields["labels"]
    assert isinstance(labels, serializers.ListField)
    assert isinstance(others, serializers.ListField)
    assert labels.child is not others.child
    assert labels.child.parent is labels


def _without_parents(field: Any) -> dict[str, Any]:
    """A field's attributes, its child's in place of the child, neither's parent."""
    attrs = {k: v for k, v in vars(field).items() if k != "parent"}
    if isinstance(attrs.get("child"), serializers.Field):
        attrs["child"] = _without_parents(attrs["child"])
    return attrs


class _Nested(serializers.Serializer):
    name = serializers.CharField()


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        (serializers.CharField(max_length=5), "shallow"),
        (serializers.ListField(child=serializers.UUIDField(), max_length=3), "child"),
        (serializers.DictField(child=serializers.IntegerField()), "child"),
        (serializers.ListField(child=serializers.ListField()), "deep"),
        (serializers.ListField(child=_Nested()), "deep"),
        (_Nested(), "deep"),
    ],
)
def test_each_built_field_is_copied_as_deep_as_it_needs(field: Any, kind: str) -> None:
    """A copy has the field's attributes, none of the fields it holds shared, and
    each held field bound to the copy; what cannot be copied shallowly is deep."""
    copy_ = copier(field)
    fresh = copy_(field)

    assert type(fresh) is type(field)
    assert fresh is not field
    assert (copy_ is copy.deepcopy) == (kind == "deep")
    if kind != "deep":
        assert _without_parents(fresh) == _without_parents(field)
    if kind == "child":
        assert fresh.child is not field.child
        assert fresh.child.parent is fresh
        assert field.child.parent is field


def test_a_labels_copy_validates_as_drfs_own(user: Any) -> None:
    """The labels field copied with its child refuses and accepts as a new one."""
    request = type("Request", (), {"user": user})()
    for value in (["nope"], [str(uuid.uuid4())] * 101, "a", [1]):
        data = {"title": "t", "labels": value}
        ours = TaskSerializer(data=data, context={"request": request})
        drfs = _DeepCopied(data=data, context={"request": request})
        assert not ours.is_valid()
        assert not drfs.is_valid()
        assert ours.errors == drfs.errors


class _DeepCopied(TaskSerializer):
    """DRF's way: every field deep-copied from ModelSerializer's for each instance."""

    def get_fields(self) -> dict[str, Any]:
        from rest_framework import serializers as drf

        return copy.deepcopy(drf.ModelSerializer.get_fields(self))


INPUTS = [
    {"title": "ok"},
    {"title": "x" * 201},
    {"title": ""},
    {"title": None},
    {"title": "t", "status": "nope"},
    {"title": "t", "status": "completed", "priority": "urgent"},
    {"title": "t", "priority": 3},
    {"title": "t", "due_at": "2031-01-31T17:00:00Z"},
    {"title": "t", "due_at": "yesterday"},
    {"title": "t", "due_at": None},
    {"title": "t", "description": "d" * 5001},
    {"title": "t", "labels": ["not-a-uuid"]},
    {"title": "t", "labels": [str(uuid.uuid4())] * 101},
    {"title": "t", "labels": "a"},
    {"title": "t", "list": "not-a-uuid"},
    {"title": "t", "id": str(uuid.uuid4()), "created_at": "2020-01-01T00:00:00Z"},
    {"title": "t", "owner": "someone"},
]


def _outcome(serializer_class: type[TaskSerializer], data: Any, user: Any) -> Any:
    request = type("Request", (), {"user": user})()
    serializer = serializer_class(data=data, context={"request": request})
    if serializer.is_valid():
        return ("valid", dict(serializer.validated_data))
    return ("invalid", json.loads(json.dumps(serializer.errors)))


def test_shallow_copied_fields_validate_as_deep_copied_ones(user: Any) -> None:
    """The copies share their validators and messages: interleaved instances,
    valid and invalid, still give DRF's verdicts, each its own."""
    ours = [_outcome(TaskSerializer, data, user) for data in INPUTS * 2]
    drfs = [_outcome(_DeepCopied, data, user) for data in INPUTS * 2]

    assert ours == drfs
    assert {verdict for verdict, _ in ours} == {"valid", "invalid"}


def test_the_validators_worked_out_once_are_modelserializers() -> None:
    from rest_framework import serializers as drf

    first, second = TaskSerializer(), TaskSerializer()

    assert first.get_validators() is not second.get_validators()
    assert repr(first.get_validators()) == repr(
        drf.ModelSerializer.get_validators(TaskSerializer())
    )


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_a_written_tasks_document_is_the_serializers(user, zone):
    """What a write answers: the serializer's document, byte for byte, for tasks
    with and without their label ids and with times in other zones."""
    tasks = _tasks(user)
    tasks.append(services.task_create(owner=user, title="Due", due_at=_in(BERLIN)))
    with timezone.override(zone):
        for task in tasks:
            expected = renderers.JSONRenderer().render(TaskSerializer(task).data)
            assert renderers.JSONRenderer().render(document(task)) == expected
            assert api_renderers.JSONRenderer().render(document(task)) == expected
    assert sum(hasattr(task, "label_ids") for task in tasks) >= 3


def test_a_written_tasks_document_is_made_from_its_values(user, monkeypatch):
    """The services' tasks (label ids set, times in UTC) skip the serializer."""
    made = services.task_create(owner=user, title="Made", due_at=_in(datetime.UTC))
    monkeypatch.setattr(TaskSerializer, "to_representation", None)

    assert document(made)["title"] == "Made"
    assert document(made)["due_at"] == _in(datetime.UTC)


def _in(zone: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime(2031, 1, 31, 17, 0, 0, 5, tzinfo=zone)
