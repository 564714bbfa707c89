"""todos.pagination's link building: DRF's URLs, byte for byte, built cheaper."""

from __future__ import annotations

from urllib import parse

from hypothesis import example, given
from hypothesis import strategies as st
from rest_framework.utils.urls import replace_query_param

from todos.pagination import CURSOR_PATTERN, _quote, with_query_param

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
