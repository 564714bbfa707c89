"""resource_path() is reverse(), for every id, prefix, URLconf and route shape."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import (
    include,
    path,
    register_converter,
    reverse,
    set_script_prefix,
    set_urlconf,
)
from django.urls.converters import UUIDConverter

from api.links import _parts, resource_path

NAMES = ["todos:task-detail", "todos:list-detail", "todos:label-detail"]


class _ShoutingConverter(UUIDConverter):
    """Writes ids in capitals: the stand-in's text is not in the path."""

    regex = "[0-9a-fA-F-]{36}"

    def to_url(self, value: Any) -> str:
        return str(value).upper()


register_converter(_ShoutingConverter, "shouting")


def _view(request: HttpRequest, **kwargs: Any) -> HttpResponse:  # pragma: no cover
    return HttpResponse()  # never resolved, only reversed


_elsewhere = (
    [
        path("elsewhere/<uuid:pk>/", _view, name="task-detail"),
        path("shouting/<shouting:pk>/", _view, name="list-detail"),
        path("twice/<uuid:pk>/<uuid:other>/", _view, name="label-detail"),
    ],
    "todos",
)
urlpatterns = [path("", include(_elsewhere))]


@pytest.fixture(autouse=True)
def _fresh_prefix():
    yield
    set_script_prefix("/")
    set_urlconf(None)


@pytest.mark.parametrize("name", NAMES)
def test_the_path_of_every_id_is_reverses(name: str) -> None:
    for _ in range(20):
        pk = uuid.uuid4()
        assert resource_path(name, pk) == reverse(name, args=[pk])


def test_a_script_prefix_is_in_the_path() -> None:
    pk = uuid.uuid4()
    resource_path("todos:task-detail", pk)  # cached under the root prefix
    set_script_prefix("/mounted/here/")

    assert resource_path("todos:task-detail", pk) == reverse(
        "todos:task-detail", args=[pk]
    )
    assert resource_path("todos:task-detail", pk).startswith("/mounted/here/api/")


def test_another_urlconf_is_read_set_or_overridden() -> None:
    pk = uuid.uuid4()
    ours = resource_path("todos:task-detail", pk)

    with override_settings(ROOT_URLCONF=__name__):
        assert resource_path("todos:task-detail", pk) == f"/elsewhere/{pk}/"
    set_urlconf(__name__)
    assert resource_path("todos:task-detail", pk) == f"/elsewhere/{pk}/"
    set_urlconf(None)
    assert resource_path("todos:task-detail", pk) == ours


def test_a_route_that_does_not_write_the_id_as_is_is_reversed() -> None:
    set_urlconf(__name__)
    pk = uuid.uuid4()

    assert _parts("todos:list-detail", "/", __name__, None) is None
    assert resource_path("todos:list-detail", pk) == f"/shouting/{str(pk).upper()}/"


def test_a_route_with_two_ids_is_reversed() -> None:
    """Not reachable through resource_path (one id), but never cached wrongly."""
    set_urlconf(__name__)
    pk = uuid.uuid4()
    with pytest.raises(Exception, match="Reverse"):
        resource_path("todos:label-detail", pk)


@pytest.mark.parametrize(
    "pk",
    ["3f2b8a7e-1c4d-4e5f-9a6b-7c8d9e0f1a2b", 7, "3f2b8a7e1c4d4e5f9a6b7c8d9e0f1a2b"],
)
def test_what_is_no_uuid_is_reversed(pk: Any) -> None:
    assert resource_path("todos:task-detail", pk) == reverse(
        "todos:task-detail", args=[pk]
    )
