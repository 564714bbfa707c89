"""api.negotiation: DRF's choice of renderer, remembered per distinct input."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.http import Http404
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import exceptions, renderers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api import negotiation
from api.negotiation import MEMO_HEADER_LENGTH, MEMO_SIZE, ContentNegotiation
from api.renderers import JSONRenderer

factory = APIRequestFactory()

RENDERER_SETS = [
    [JSONRenderer],
    [JSONRenderer, renderers.BrowsableAPIRenderer],
    [renderers.BrowsableAPIRenderer, JSONRenderer],
    [renderers.StaticHTMLRenderer, JSONRenderer],
]
_media_types = st.sampled_from(
    [
        "*/*",
        "application/*",
        "application/json",
        "application/json; indent=4",
        "application/json; version=2",
        "text/html",
        "text/*",
        "application/xml",
        "application/problem+json",
        "image/png",
        "",
        "garbage",
        ";;;",
    ]
)
_qualities = st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=x"])
_accepts = st.none() | st.lists(
    st.tuples(_media_types, _qualities).map("".join), max_size=4
).map(", ".join)
_formats = st.sampled_from([None, "json", "api", "html", "xml"])


@pytest.fixture(autouse=True)
def _empty_memo():
    negotiation._memo.clear()
    yield
    negotiation._memo.clear()


def _request(accept: str | None, format_: str | None) -> Request:
    params = {} if format_ is None else {"format": format_}
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(factory.get("/api/v1/tasks/", params, **headers))


def _choice(negotiator: Any, request: Request, instances: list[Any]) -> Any:
    try:
        renderer, media_type = negotiator.select_renderer(request, instances)
    except (exceptions.NotAcceptable, Http404) as refusal:
        return type(refusal)
    return instances.index(renderer), media_type


@given(_accepts, _formats, st.sampled_from(RENDERER_SETS))
def test_the_choice_is_drfs_the_first_time_and_every_time_after(
    accept, format_, classes
) -> None:
    instances = [cls() for cls in classes]
    drfs = _choice(DefaultContentNegotiation(), _request(accept, format_), instances)
    for _ in range(2):
        ours = _choice(ContentNegotiation(), _request(accept, format_), instances)
        assert ours == drfs


def test_a_known_header_is_not_negotiated_again() -> None:
    instances = [JSONRenderer(), renderers.BrowsableAPIRenderer()]
    first = ContentNegotiation().select_renderer(
        _request("application/json; indent=4", None), instances
    )
    with mock.patch.object(
        DefaultContentNegotiation, "select_renderer", side_effect=AssertionError
    ):
        again = ContentNegotiation().select_renderer(
            _request("application/json; indent=4", None), instances
        )
        # The renderer of this request's own list, not the one remembered.
        others = [JSONRenderer(), renderers.BrowsableAPIRenderer()]
        other = ContentNegotiation().select_renderer(
            _request("application/json; indent=4", None), others
        )
    assert again == first == (instances[0], "application/json; indent=4")
    assert other[0] is others[0]


def test_refusals_and_long_headers_are_not_kept() -> None:
    instances = [JSONRenderer()]
    with pytest.raises(exceptions.NotAcceptable):
        ContentNegotiation().select_renderer(_request("text/html", None), instances)
    with pytest.raises(Http404):
        ContentNegotiation().select_renderer(_request(None, "xml"), instances)
    long = "application/json, " + "x/y, " * MEMO_HEADER_LENGTH
    chosen = ContentNegotiation().select_renderer(_request(long, None), instances)
    assert chosen == (instances[0], "application/json")
    assert negotiation._memo == {}


def test_the_memo_never_holds_more_than_its_size() -> None:
    instances = [JSONRenderer()]
    for n in range(MEMO_SIZE * 3):
        ContentNegotiation().select_renderer(
            _request(f"application/json; n={n}", None), instances
        )
        assert 0 < len(negotiation._memo) <= MEMO_SIZE


@pytest.mark.django_db
def test_the_api_negotiates_with_it(auth_client) -> None:
    url = reverse("todos:task-list")
    with mock.patch.object(
        ContentNegotiation,
        "select_renderer",
        autospec=True,
        side_effect=ContentNegotiation.select_renderer,
    ) as select:
        ok = auth_client.get(url, HTTP_ACCEPT="application/json")
        refused = auth_client.get(url, HTTP_ACCEPT="text/html")
    assert ok.status_code == status.HTTP_200_OK
    assert refused.status_code == status.HTTP_406_NOT_ACCEPTABLE
    assert select.call_count >= 2
