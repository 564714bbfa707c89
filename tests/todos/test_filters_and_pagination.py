"""The task list: filters, orderings, keyset pages and query budgets."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api import scoping
from tests.factories import TaskFactory
from todos.filters import StrictFilterBackend
from todos.models import TITLE_MAX_LENGTH, Task
from todos.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN, TaskCursorPagination
from todos.views import TaskViewSet

pytestmark = pytest.mark.django_db

LIST = reverse("todos:task-list")
NOW = timezone.now()


def _ids(response) -> list[str]:
    assert response.status_code == status.HTTP_200_OK, response.content
    return [t["id"] for t in response.json()["results"]]


def _walk(client, params: dict) -> list[str]:
    """Follow ``next`` links to the end and return every id, in order."""
    seen: list[str] = []
    response = client.get(LIST, params)
    while True:
        seen.extend(_ids(response))
        nxt = response.json()["next"]
        if nxt is None:
            return seen
        response = client.get(nxt)


def _days(n: float) -> datetime.datetime:
    return NOW + datetime.timedelta(days=n)


# --- pagination ---------------------------------------------------------------------


def test_default_order_is_newest_first_and_pages_cover_everything_once(
    auth_client, user
):
    tasks = TaskFactory.create_batch(7, owner=user)
    expected = [str(t.pk) for t in sorted(tasks, key=lambda t: (t.created_at, t.pk))][
        ::-1
    ]
    assert _walk(auth_client, {"page_size": 3}) == expected


def test_first_page_has_no_previous_and_later_pages_go_back(auth_client, user):
    TaskFactory.create_batch(5, owner=user)
    first = auth_client.get(LIST, {"page_size": 2}).json()
    assert first["previous"] is None
    second = auth_client.get(first["next"]).json()
    assert second["previous"] is not None
    back = auth_client.get(second["previous"]).json()
    assert [t["id"] for t in back["results"]] == [t["id"] for t in first["results"]]


@pytest.mark.parametrize("ordering", ["-created_at", "due_at", "-due_at", "title"])
def test_a_minted_cursor_continues_the_list_as_the_next_link_does(
    auth_client, user, ordering
):
    tasks = TaskFactory.create_batch(6, owner=user)
    for n, task in enumerate(tasks[:3]):
        Task.objects.filter(pk=task.pk).update(due_at=_days(n))
    params = {"ordering": ordering, "status": "pending", "page_size": 2}
    first = auth_client.get(LIST, params).json()
    last = Task.objects.get(pk=first["results"][-1]["id"])
    request = Request(APIRequestFactory().get(LIST, params))
    request.user = user
    paginator = TaskCursorPagination()

    ahead = paginator.cursor_for(request, last)
    back = paginator.cursor_for(request, last, reverse=True)

    assert _ids(auth_client.get(LIST, {**params, "cursor": ahead})) == _ids(
        auth_client.get(first["next"])
    )
    assert _ids(auth_client.get(LIST, {**params, "cursor": back})) == [
        first["results"][0]["id"]
    ]


def test_a_minted_cursor_is_bound_to_its_user_and_filters(
    auth_client, other_client, user
):
    row = TaskFactory(owner=user)
    request = Request(APIRequestFactory().get(LIST, {"status": "pending"}))
    request.user = user
    cursor = TaskCursorPagination().cursor_for(request, row)
    assert (
        auth_client.get(LIST, {"status": "pending", "cursor": cursor}).status_code
        == 200
    )
    for client, params in [(auth_client, {}), (other_client, {"status": "pending"})]:
        response = client.get(LIST, {**params, "cursor": cursor})
        assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content


@pytest.mark.parametrize(
    "ordering", ["-created_at", "due_at", "-due_at", "title", "-priority"]
)
def test_drfs_entry_pages_a_queryset_as_the_list_does(auth_client, user, ordering):
    """``paginate_queryset``, DRF's way in (a view without its own list): the same
    pages, forwards and back, with the cursor's values in the query itself."""
    tasks = TaskFactory.create_batch(7, owner=user)
    for n, task in enumerate(tasks[:4]):
        Task.objects.filter(pk=task.pk).update(due_at=_days(n % 2))
    params = {"ordering": ordering, "page_size": 2}
    paginator = TaskCursorPagination()

    def page(cursor: str | None) -> list[str]:
        query = params if cursor is None else {**params, "cursor": cursor}
        request = Request(APIRequestFactory().get(LIST, query))
        request.user = user
        rows = paginator.paginate_queryset(Task.objects.filter(owner=user), request)
        return [str(row.pk) for row in rows]

    def cursor(link: str | None) -> str | None:
        return None if link is None else parse_qs(urlsplit(link).query)["cursor"][0]

    seen = page(None)
    while paginator.get_next_link() is not None and len(seen) < 20:
        seen += page(cursor(paginator.get_next_link()))
    assert seen == _walk(auth_client, params)
    assert len(set(seen)) == 7
    # And back from the last page (the 7th task) to the one before it.
    assert page(cursor(paginator.get_previous_link())) == seen[4:6]


@pytest.mark.parametrize(
    "params",
    [{}, {"ordering": "title", "page_size": 1}, {"status": "pending", "search": "a"}],
    ids=["no-filters", "no-filters-other-page", "filters"],
)
def test_cursors_signed_as_before_still_continue_the_list(auth_client, user, params):
    """A cursor is ``signing.dumps`` of its position and a digest of the filter
    parameters (all but cursor, page_size and ordering): ones issued before a
    deploy keep working, and the next link continues where they do."""
    TaskFactory.create_batch(3, owner=user, title="a task")
    first = auth_client.get(LIST, {**params, "page_size": 1}).json()
    issued = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    payload = signing.loads(issued, salt=f"todos.pagination.cursor:{user.pk}")
    filters = sorted(
        (name, str(value))
        for name, value in params.items()
        if name not in {"ordering", "page_size"}
    )
    digest = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
    assert payload["f"] == digest
    signed_before = signing.dumps(
        payload, salt=f"todos.pagination.cursor:{user.pk}", compress=True
    )

    response = auth_client.get(
        LIST, {**params, "page_size": 1, "cursor": signed_before}
    )

    assert _ids(response) == _ids(auth_client.get(first["next"]))


def test_a_query_sent_with_raw_utf8_is_continued_by_its_links(auth_client, user):
    """A client that does not percent-encode sends ``?search=café`` as UTF-8
    bytes (Django's test client does the same). The links carry the parameters the
    page was filtered by, so following them continues the list."""
    TaskFactory.create_batch(3, owner=user, title="café au lait")
    TaskFactory(owner=user, title="plain tea")

    first = auth_client.get(f"{LIST}?search=café&page_size=2")
    assert len(_ids(first)) == 2
    link = first.json()["next"]
    assert parse_qs(urlsplit(link).query)["search"] == ["café"]

    second = auth_client.get(link)

    assert len(_ids(second)) == 1
    assert set(_ids(second)).isdisjoint(_ids(first))
    back = second.json()["previous"]
    assert parse_qs(urlsplit(back).query)["search"] == ["café"]
    assert _ids(auth_client.get(back)) == _ids(first)


def test_links_carry_uncompressed_cursors_that_signing_loads_reads(auth_client, user):
    """The cursors a page issues are ``signing.dumps`` of their payload, without
    zlib: the same text, signature and checks, and nothing to inflate."""
    TaskFactory.create_batch(3, owner=user, title="a task")
    middle = auth_client.get(
        auth_client.get(LIST, {"page_size": 1}).json()["next"]
    ).json()
    salt = f"todos.pagination.cursor:{user.pk}"

    for link in (middle["next"], middle["previous"]):
        issued = parse_qs(urlsplit(link).query)["cursor"][0]
        payload = signing.loads(issued, salt=salt)
        assert not issued.startswith(".")
        assert issued.split(":")[0] == signing.dumps(payload, salt=salt).split(":")[0]


def test_page_size_defaults_to_50_goes_up_to_200_and_refuses_more(auth_client, user):
    TaskFactory.create_batch(205, owner=user, description="")
    assert len(_ids(auth_client.get(LIST))) == 50
    assert len(_ids(auth_client.get(LIST, {"page_size": 200}))) == 200
    response = auth_client.get(LIST, {"page_size": 201})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response.json()["errors"] == [
        {
            "field": "page_size",
            "pointer": "/page_size",
            "code": "invalid",
            "message": "Must be an integer between 1 and 200.",
        }
    ]


def test_a_row_inserted_between_pages_is_neither_repeated_nor_skipped(
    auth_client, user
):
    TaskFactory.create_batch(4, owner=user)
    first = auth_client.get(LIST, {"page_size": 2}).json()
    TaskFactory.create(owner=user)  # newer than everything: belongs before page 1
    second = auth_client.get(first["next"]).json()
    first_ids = {t["id"] for t in first["results"]}
    assert not first_ids & {t["id"] for t in second["results"]}
    assert len(second["results"]) == 2


# --- ordering -----------------------------------------------------------------------


def _sorted_ids(tasks, key, reverse=False):
    return [str(t.pk) for t in sorted(tasks, key=key, reverse=reverse)]


def test_every_ordering_is_stable_and_walks_all_rows(auth_client, user):
    tasks = [
        TaskFactory.create(owner=user, title=title, priority=prio, due_at=due)
        for title, prio, due in [
            ("b", 10, _days(2)),
            ("a", 40, None),
            ("c", 20, _days(1)),
            ("a", 40, _days(1)),
            ("b", 30, None),
            ("d", 20, _days(3)),
        ]
    ]
    tasks = list(Task.objects.filter(pk__in=[t.pk for t in tasks]))
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    expectations = {
        "title": _sorted_ids(tasks, lambda t: (t.title, t.pk)),
        "-title": _sorted_ids(tasks, lambda t: (t.title, t.pk), reverse=True),
        "priority": _sorted_ids(tasks, lambda t: (t.priority, t.pk)),
        "-priority": _sorted_ids(tasks, lambda t: (t.priority, t.pk), reverse=True),
        "due_at": _sorted_ids(tasks, lambda t: (t.due_at or far, t.pk)),
        "-due_at": _sorted_ids(tasks, lambda t: (t.due_at or far, t.pk), reverse=True),
        "created_at": _sorted_ids(tasks, lambda t: (t.created_at, t.pk)),
        "updated_at": _sorted_ids(tasks, lambda t: (t.updated_at, t.pk)),
        "-updated_at": _sorted_ids(tasks, lambda t: (t.updated_at, t.pk), reverse=True),
    }
    for ordering, expected in expectations.items():
        for size in (1, 2, 4, 50):
            walked = _walk(auth_client, {"ordering": ordering, "page_size": size})
            assert walked == expected, (ordering, size)


def test_priority_sorts_by_urgency_not_alphabetically(auth_client, user):
    for prio in (30, 10, 40, 20):
        TaskFactory.create(owner=user, priority=prio)
    names = [
        t["priority"]
        for t in auth_client.get(LIST, {"ordering": "-priority"}).json()["results"]
    ]
    assert names == ["urgent", "high", "normal", "low"]


@pytest.mark.parametrize("value", ["owner", "-id", "due", "title,priority", "--title"])
def test_an_unknown_ordering_is_a_400_naming_it(auth_client, value):
    response = auth_client.get(LIST, {"ordering": value})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert [e["field"] for e in response.json()["errors"]] == ["ordering"]


@pytest.mark.parametrize("value", [" 5", "5 ", "+5", "1_0", "\u0663", "5.0", "0", ""])
def test_a_page_size_that_is_not_plain_digits_in_range_is_a_400(auth_client, value):
    response = auth_client.get(LIST, {"page_size": value})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert [e["field"] for e in response.json()["errors"]] == ["page_size"]


def test_every_cursor_issued_has_the_documented_form_even_for_the_longest_title(
    auth_client, user
):
    TaskFactory.create_batch(2, owner=user, title="\U0001f600" * TITLE_MAX_LENGTH)
    page = auth_client.get(LIST, {"ordering": "-title", "page_size": 1}).json()
    cursor = parse_qs(urlsplit(page["next"]).query)["cursor"][0]
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert len(cursor) <= CURSOR_MAX_LENGTH
    assert len(_ids(auth_client.get(page["next"]))) == 1
    # The bound holds for a payload that does not compress at all.
    longest = {
        "o": "-created_at",
        "f": "0" * 16,
        "v": "\U0001f600" * TITLE_MAX_LENGTH,
        "i": str(uuid.uuid4()),
        "r": True,
    }
    uncompressed = signing.dumps(longest, salt="any")
    assert re.fullmatch(CURSOR_PATTERN, uncompressed)
    assert CURSOR_MAX_LENGTH - 16 <= len(uncompressed) <= CURSOR_MAX_LENGTH


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "a:b:c",
        "." + "A" * CURSOR_MAX_LENGTH + ":1:" + "A" * 43,
        "eyJvIjoiLWNyZWF0ZWRfYXQifQ:1:" + "A" * 43 + "\n",
    ],
)
def test_a_cursor_not_of_the_documented_form_is_a_400(auth_client, cursor):
    response = auth_client.get(LIST, {"cursor": cursor})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response.json()["errors"][0]["code"] == "invalid_cursor"


# --- filters ------------------------------------------------------------------------


@pytest.fixture
def varied(user):
    later = _days(5)
    return {
        "pending_due_past": TaskFactory.create(
            owner=user,
            title="Pay rent",
            description="",
            status="pending",
            due_at=_days(-2),
        ),
        "done_due_past": TaskFactory.create(
            owner=user,
            title="File taxes",
            description="",
            status="completed",
            completed_at=NOW,
            due_at=_days(-3),
            priority=40,
        ),
        "progress_due_future": TaskFactory.create(
            owner=user,
            title="Read book",
            description="The RENT collector",
            status="in_progress",
            due_at=later,
            priority=30,
        ),
        "no_due": TaskFactory.create(
            owner=user, title="Someday", description="", priority=10
        ),
    }


def _names(varied, response) -> set[str]:
    by_id = {str(t.pk): name for name, t in varied.items()}
    return {by_id[i] for i in _ids(response)}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending"}, {"pending_due_past", "no_due"}),
        ({"status": "completed,in_progress"}, {"done_due_past", "progress_due_future"}),
        ({"priority": "urgent,low"}, {"done_due_past", "no_due"}),
        ({"overdue": "true"}, {"pending_due_past"}),
        (
            {"overdue": "false"},
            {"done_due_past", "progress_due_future", "no_due"},
        ),
        (
            {"has_due": "true"},
            {"pending_due_past", "done_due_past", "progress_due_future"},
        ),
        ({"has_due": "false"}, {"no_due"}),
        ({"due_before": _days(0).isoformat()}, {"pending_due_past", "done_due_past"}),
        ({"due_after": _days(0).isoformat()}, {"progress_due_future"}),
        ({"search": "rent"}, {"pending_due_past", "progress_due_future"}),
        ({"search": "TAXES"}, {"done_due_past"}),
        ({"status": "pending", "has_due": "true"}, {"pending_due_past"}),
    ],
)
def test_filters_select_the_right_tasks(auth_client, varied, params, expected):
    assert _names(varied, auth_client.get(LIST, params)) == expected


def test_created_and_updated_filters(auth_client, user):
    old = TaskFactory.create(owner=user)
    Task.objects.filter(pk=old.pk).update(created_at=_days(-10), updated_at=_days(-10))
    new = TaskFactory.create(owner=user)
    cut = _days(-1).isoformat()

    assert _ids(auth_client.get(LIST, {"created_after": cut})) == [str(new.pk)]
    assert _ids(auth_client.get(LIST, {"created_before": cut})) == [str(old.pk)]
    assert _ids(auth_client.get(LIST, {"updated_after": cut})) == [str(new.pk)]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "done"),
        ("status", "pending,nope"),
        ("status", ","),
        ("priority", "critical"),
        ("overdue", "maybe"),
        ("has_due", "1"),
        ("due_before", "yesterday"),
        ("due_after", "2030-13-01"),
        ("created_after", "soon"),
        ("created_before", "x"),
        ("updated_after", "1/2/2030"),
        ("due_before", "2030-01-31"),
        ("due_after", "2030-01-31T17:00:00"),
        ("created_after", "2030-01-31 17:00:00Z"),
        ("created_before", " 2030-01-31T17:00:00Z"),
        ("search", "x" * 201),
        ("stauts", "pending"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_parameter(auth_client, param, value):
    response = auth_client.get(LIST, {param: value})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [param]


# --- query budgets (authentication included) ----------------------------------------


@pytest.mark.parametrize("page_size", [1, 50, 200])
def test_list_costs_at_most_two_queries_whatever_the_page_size(
    auth_client, user, page_size, django_assert_max_num_queries
):
    TaskFactory.create_batch(60, owner=user, description="")
    with django_assert_max_num_queries(2):
        response = auth_client.get(
            LIST, {"page_size": page_size, "status": "pending", "ordering": "due_at"}
        )
    assert response.status_code == status.HTTP_200_OK


def test_detail_costs_at_most_two_queries(
    auth_client, user, django_assert_max_num_queries
):
    task = TaskFactory.create(owner=user)
    with django_assert_max_num_queries(2):
        response = auth_client.get(reverse("todos:task-detail", args=[task.pk]))
    assert response.status_code == status.HTTP_200_OK


def test_create_and_update_cost_at_most_four_queries(
    auth_client, user, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        created = auth_client.post(LIST, {"title": "counted"})
    assert created.status_code == status.HTTP_201_CREATED
    url = reverse("todos:task-detail", args=[created.json()["id"]])
    with django_assert_max_num_queries(4):
        patched = auth_client.patch(
            url, {"title": "again"}, HTTP_IF_MATCH=created["ETag"]
        )
    assert patched.status_code == status.HTTP_200_OK
    with django_assert_max_num_queries(4):
        put = auth_client.put(url, {"title": "put"})
    assert put.status_code == status.HTTP_200_OK


def test_the_list_query_is_a_single_select_without_offset(auth_client, user):
    TaskFactory.create_batch(5, owner=user)
    first = auth_client.get(LIST, {"page_size": 2}).json()
    with CaptureQueriesContext(connection) as ctx:
        auth_client.get(first["next"])
    selects = [q["sql"] for q in ctx.captured_queries if "todos_task" in q["sql"]]
    assert len(selects) == 1
    assert "OFFSET" not in selects[0].upper()


def test_a_date_filter_takes_rfc_3339_in_either_case(auth_client, user):
    task = TaskFactory.create(owner=user, due_at=_days(1))
    for value in ["2000-01-01T00:00:00Z", "2000-01-01t00:00:00.5z"]:
        assert _ids(auth_client.get(LIST, {"due_after": value})) == [str(task.pk)]


# --- the page's SQL, compiled once per shape (api.scoping.OwnerScopedViewSet) -------


def _page_sqls() -> dict:
    return {
        key: compiled
        for key, compiled in scoping._COMPILED.items()
        if key[0] is TaskViewSet
    }


def test_an_unfiltered_page_and_the_pages_around_it_cost_two_queries(
    auth_client, user, django_assert_max_num_queries
):
    TaskFactory.create_batch(5, owner=user)
    first = auth_client.get(LIST, {"page_size": 2}).json()
    with django_assert_max_num_queries(2):
        second = auth_client.get(first["next"])
    with django_assert_max_num_queries(2):
        back = auth_client.get(second.json()["previous"])
    assert _ids(back) == [t["id"] for t in first["results"]]


@pytest.mark.parametrize("ordering", ["-created_at", "due_at", "-due_at", "title"])
def test_users_paging_through_one_shape_see_only_their_own_tasks(
    auth_client, other_client, user, other_user, ordering
):
    mine = TaskFactory.create_batch(5, owner=user)
    theirs = TaskFactory.create_batch(5, owner=other_user)
    for n, task in enumerate([*mine, *theirs]):
        if n % 3:
            Task.objects.filter(pk=task.pk).update(due_at=_days(n))
    scoping._COMPILED.clear()

    params = {"ordering": ordering, "page_size": 2}
    seen: dict[Any, list[str]] = {auth_client: [], other_client: []}
    pages = {client: client.get(LIST, params) for client in seen}
    while any(pages.values()):
        for client, response in pages.items():
            if response is None:
                continue
            seen[client].extend(_ids(response))
            nxt = response.json()["next"]
            pages[client] = None if nxt is None else client.get(nxt)

    assert sorted(seen[auth_client]) == sorted(str(t.pk) for t in mine)
    assert sorted(seen[other_client]) == sorted(str(t.pk) for t in theirs)
    # Each shape (first page, deep page, and the dated or undated stretch of a
    # nullable key) was compiled once and served both users.
    shapes = _page_sqls()
    assert 2 <= len(shapes) <= 4
    # The owner's one slot; on PostgreSQL the user check (api.scoping) binds it too.
    for compiled in shapes.values():
        owners = [p for p in compiled.params if getattr(p, "name", "") == "owner"]
        assert len(owners) == (2 if connection.vendor == "postgresql" else 1)
        assert compiled.sql.count('"accounts_user"') == len(owners) - 1


def test_a_filtered_page_is_compiled_for_its_request_alone(auth_client, user):
    TaskFactory.create_batch(3, owner=user)
    scoping._COMPILED.clear()

    assert len(_ids(auth_client.get(LIST, {"status": "pending"}))) == 3
    assert _page_sqls() == {}
    assert len(_ids(auth_client.get(LIST))) == 3
    assert len(_page_sqls()) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"stauts": "pending", "page_size": "0"},
        {"status": "nope", "ordering": "nope"},
        {"due_before": "", "cursor": "forged"},
    ],
)
def test_the_filters_are_checked_before_the_pages_parameters(auth_client, params):
    response = auth_client.get(LIST, params)

    assert response.status_code == status.HTTP_400_BAD_REQUEST
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == set(params) - {"page_size", "ordering", "cursor"}


def test_a_read_without_query_parameters_builds_no_filterset(
    auth_client, user, monkeypatch
):
    """Nothing to check or filter by: the backend hands the rows on untouched."""
    task = TaskFactory.create(owner=user)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a FilterSet for a read without query parameters")

    monkeypatch.setattr(StrictFilterBackend, "get_filterset_class", refused)
    assert auth_client.get(LIST).json()["results"][0]["id"] == str(task.pk)
    assert auth_client.get(f"{LIST}{task.pk}/").json()["id"] == str(task.pk)
    with pytest.raises(AssertionError, match="FilterSet"):
        auth_client.get(LIST, {"status": "pending"})
