"""todos.pagination's links and cursors: DRF's URLs and Django's signatures, byte
for byte, built cheaper."""

from __future__ import annotations

from unittest import mock
from urllib import parse

import pytest
from django.core import signing
from django.test import RequestFactory, override_settings
from hypothesis import example, given
from hypothesis import strategies as st
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from todos.pagination import (
    CURSOR_PATTERN,
    CursorSigner,
    QueryUrl,
    _quote,
    with_query_param,
)

# Query strings as clients send them: names and values of any text, percent- or
# plus-encoded or raw, repeated names, blank values, stray separators.
_text = st.text(max_size=12)
_pairs = st.lists(st.tuples(_text, _text), max_size=6)
_raw_query = st.text(alphabet="ab=&%+;:/?#2F.~ é", max_size=24)


@given(_text)
@example("Jm9:1vV3x:AbC-_")
@example("a:b:%3A+ ")
def test_quote_is_quote_plus(value: str) -> None:
    assert _quote(value) == parse.quote_plus(value)


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True), _pairs, _raw_query)
def test_the_link_is_drfs_for_any_query(
    cursor: str, pairs: list[tuple[str, str]], raw: str
) -> None:
    for query in (parse.urlencode(pairs), raw, ""):
        url = f"http://testserver/api/v1/tasks/?{query}"
        assert with_query_param(url, "cursor", cursor) == replace_query_param(
            url, "cursor", cursor
        )


@given(_text, _text, _pairs)
def test_any_key_and_value_give_drfs_link(
    key: str, value: str, pairs: list[tuple[str, str]]
) -> None:
    url = f"https://example.com/a/b?{parse.urlencode(pairs)}#frag"
    assert with_query_param(url, key, value) == replace_query_param(url, key, value)


def test_the_cursor_replaces_the_one_in_the_url() -> None:
    url = "http://h/api/v1/tasks/?status=pending&cursor=old&ordering=-created_at"

    link = with_query_param(url, "cursor", ".eJy:1a:b")

    assert link == (
        "http://h/api/v1/tasks/?cursor=.eJy%3A1a%3Ab&ordering=-created_at"
        "&status=pending"
    )


# Query strings as they reach Django from a client that percent-encodes (any
# ASCII byte may still come raw): WSGI's QUERY_STRING, ASCII. No "#": it starts
# the fragment, which stays with the client (gunicorn drops it from the target).
_ascii_query = st.text(alphabet='ab=&%+;:/?2F.~ <>"{}|^`', max_size=24)


@given(_pairs, _ascii_query, st.booleans(), st.sampled_from(["", "/mount"]))
def test_the_request_gives_the_url_build_absolute_uri_gives(
    pairs: list[tuple[str, str]], raw: str, secure: bool, script: str
) -> None:
    for query in (parse.urlencode(pairs), raw, ""):
        django = RequestFactory().get(
            "/api/v1/tasks/",
            QUERY_STRING=query,
            SCRIPT_NAME=script,
            HTTP_HOST="testserver:8443",
            secure=secure,
        )
        url = django.build_absolute_uri()
        ours = QueryUrl.of_request(Request(django))
        assert ours.with_param("cursor", "a:1:b") == replace_query_param(
            url, "cursor", "a:1:b"
        )
        assert ours.without_param("cursor") == remove_query_param(url, "cursor")


def test_a_raw_non_ascii_query_keeps_its_parameters_in_the_links() -> None:
    # What a client that does not percent-encode sends: UTF-8 bytes, which WSGI
    # gives as one character each. build_absolute_uri() quotes each of them.
    django = RequestFactory().get(
        "/api/v1/tasks/", QUERY_STRING="search=caf\u00c3\u00a9&cursor=x"
    )
    assert Request(django).query_params["search"] == "caf\u00e9"

    ours = QueryUrl.of_request(Request(django))

    assert ours.with_param("cursor", "y") == (
        "http://testserver/api/v1/tasks/?cursor=y&search=caf%C3%A9"
    )
    assert ours.without_param("cursor") == (
        "http://testserver/api/v1/tasks/?search=caf%C3%A9"
    )


def test_one_url_gives_each_parameter_its_own_link() -> None:
    url = "http://h/api/v1/tasks/?status=pending&cursor=old"
    taken_apart = QueryUrl.from_url(url)

    first = taken_apart.with_param("cursor", "a:1:b")
    second = taken_apart.with_param("page_size", "5")
    third = taken_apart.with_param("cursor", "c:2:d")

    assert first == replace_query_param(url, "cursor", "a:1:b")
    assert second == replace_query_param(url, "page_size", "5")
    assert third == replace_query_param(url, "cursor", "c:2:d")


# --- the cursor's signer ------------------------------------------------------------

# Payloads as the paginator signs them, and others: any JSON text, numbers, nesting.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_salts = st.text(min_size=1, max_size=40)


@given(_json, _salts, st.booleans())
@example(
    {"o": "-title", "f": "0" * 16, "v": "\U0001f600", "i": "x", "r": False}, "s", True
)
def test_the_signer_signs_as_djangos_dumps(payload, salt, compress) -> None:
    with mock.patch.object(signing.TimestampSigner, "timestamp", return_value="1aB"):
        ours = CursorSigner(salt=salt).sign_object(payload, compress=compress)
        djangos = signing.dumps(payload, salt=salt, compress=compress)
    assert ours == djangos
    assert signing.loads(ours, salt=salt) == payload


@given(_json, _salts)
def test_the_signer_reads_what_djangos_dumps_signs(payload, salt) -> None:
    signed = signing.dumps(payload, salt=salt, compress=True)
    assert CursorSigner(salt=salt).unsign_object(signed) == payload


@given(_json, _salts, _salts)
def test_a_cursor_of_another_salt_or_tampered_is_refused(payload, salt, other) -> None:
    signed = CursorSigner(salt=salt).sign_object(payload, compress=True)
    if other != salt:
        with pytest.raises(signing.BadSignature):
            CursorSigner(salt=other).unsign_object(signed)
    value, signature = signed.rsplit(":", 1)
    forged = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    with pytest.raises(signing.BadSignature):
        CursorSigner(salt=salt).unsign_object(f"{value}:{forged}")


def test_the_signer_follows_the_secret_key_and_its_fallbacks() -> None:
    payload = {"o": "-created_at", "i": "1"}
    with override_settings(SECRET_KEY="old-key-" + "x" * 50):
        old = CursorSigner(salt="s").sign_object(payload, compress=True)
        assert old == signing.dumps(payload, salt="s", compress=True)

    with override_settings(SECRET_KEY="new-key-" + "y" * 50):
        # A new key signs differently and no longer reads the old key's cursors...
        assert CursorSigner(salt="s").sign_object(payload) != old
        with pytest.raises(signing.BadSignature):
            CursorSigner(salt="s").unsign_object(old)
        # ...unless the old key is one of the fallbacks, as for signing.loads().
        with override_settings(SECRET_KEY_FALLBACKS=["old-key-" + "x" * 50]):
            assert CursorSigner(salt="s").unsign_object(old) == payload
