"""api.renderers: orjson writes exactly the bytes DRF's JSON renderer writes."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
import zoneinfo
from collections import OrderedDict
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from api.renderers import JSONRenderer

# Offsets in whole minutes: before 1900 or so, zones such as St John's were local
# mean time, an offset with seconds, which orjson rounds to the minute. The API
# writes every datetime in UTC (TIME_ZONE), so none of those ever reaches it.
ZONES = [
    datetime.UTC,
    zoneinfo.ZoneInfo("Europe/London"),
    zoneinfo.ZoneInfo("America/St_Johns"),
    datetime.timezone(datetime.timedelta(hours=-3, minutes=-30)),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(),
    st.uuids(),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 1),  # noqa: DTZ001 (naive bounds)
        timezones=st.sampled_from(ZONES),
    ),
    st.datetimes(),
    st.dates(),
    st.text().map(lambda text: ErrorDetail(text, code="invalid")),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
    ),
    max_leaves=30,
)


def drf(data: Any, media_type: str | None = None) -> bytes:
    return renderers.JSONRenderer().render(data, media_type)


def ours(data: Any, media_type: str | None = None) -> bytes:
    return JSONRenderer().render(data, media_type)


@given(documents)
def test_any_document_is_written_byte_for_byte_as_drf_writes_it(data: Any) -> None:
    assert ours(data) == drf(data)


@given(
    st.recursive(
        st.floats(allow_nan=False, allow_infinity=False)
        | st.decimals(allow_nan=False, allow_infinity=False, places=4),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=10,
    )
)
def test_numbers_with_fractions_mean_what_drf_writes(data: Any) -> None:
    """Floats (the API has none) may be spelled differently, never valued so:
    orjson writes 0.00006103515625 where the standard library writes
    6.103515625e-05."""
    assert json.loads(ours(data)) == json.loads(drf(data))


@pytest.mark.parametrize(
    "data",
    [
        {"title": "line\u2028break\u2029para"},
        {"detail": gettext_lazy("Not found.")},
        {"big": 2**70, "small": -(2**70)},
        ReturnDict({"id": uuid.UUID(int=5)}, serializer=None),  # type: ignore[call-overload]
        ReturnList([OrderedDict(b=1, a=2)], serializer=None),  # type: ignore[call-overload]
        {"when": datetime.datetime(2026, 3, 29, 0, 30, tzinfo=ZONES[1])},
        {"amount": decimal.Decimal("1.5")},
        {1: "integer key", None: "null key"},
        [],
        "",
    ],
    ids=[
        "js-line-terminators",
        "lazy-translation",
        "beyond-64-bits",
        "return-dict",
        "ordered-dict",
        "zone-with-zero-offset",
        "decimal",
        "non-string-keys",
        "empty-list",
        "empty-string",
    ],
)
def test_documents_orjson_does_not_know_are_still_drfs(data: Any) -> None:
    assert ours(data) == drf(data)


def test_line_terminators_are_escaped_for_javascript() -> None:
    assert ours({"t": "a\u2028b\u2029c"}) == b'{"t":"a\\u2028b\\u2029c"}'


def test_nothing_is_an_empty_body() -> None:
    assert ours(None) == b""


@pytest.mark.parametrize("indent", ["2", "4", "0"])
def test_pretty_printing_on_request_is_drfs(indent: str) -> None:
    media = f"application/json; indent={indent}"
    data = {"a": [1, {"b": None}], "c": "\u2028"}
    assert ours(data, media) == drf(data, media)


def test_a_string_that_is_no_unicode_fails_as_drf_fails() -> None:
    # A lone surrogate can't be encoded: orjson refuses it and DRF's renderer then
    # raises the error it always raised (the API's handler answers it with a 500).
    with pytest.raises(UnicodeEncodeError):
        ours({"t": "\udc80"})


def test_the_api_renders_with_it(settings: Any) -> None:
    from rest_framework.settings import api_settings

    assert JSONRenderer in api_settings.DEFAULT_RENDERER_CLASSES
