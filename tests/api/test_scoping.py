"""api/scoping.py: the owner-scoping base cannot be bypassed by a subclass."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import JSONField, Value
from django.http import Http404
from psycopg.pq import Format
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.filters import BaseFilterBackend
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from api import scoping
from api.permissions import IsOwner
from api.scoping import GUARDED_MEMBERS, OpaqueSlot, OwnerScopedViewSet, Slot
from tests.conftest import bearer
from tests.factories import TaskFactory
from todos.models import Task

pytestmark = pytest.mark.django_db


class _TitleSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = ["id", "title"]


class _DenyWrites(BasePermission):
    def has_permission(self, request, view):
        return request.method == "GET"


class _Scoped(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    OwnerScopedViewSet,
):
    model = Task
    serializer_class = _TitleSerializer
    permission_classes = [_DenyWrites]


class _ScopedOpen(mixins.CreateModelMixin, OwnerScopedViewSet):
    model = Task
    serializer_class = _TitleSerializer
    # Tries to drop the owner's permissions: they come back in front.
    permission_classes = []


router = SimpleRouter()
router.register("scoped", _Scoped, basename="scoped")
router.register("open", _ScopedOpen, basename="open")
urlpatterns = router.urls


@pytest.mark.parametrize("member", GUARDED_MEMBERS)
def test_a_subclass_may_not_define_any_guarded_member(member):
    with pytest.raises(TypeError, match=f"may not define {member}"):
        type(
            "Leaky",
            (OwnerScopedViewSet,),
            {"model": Task, member: lambda self, *a, **k: None},
        )


def test_a_subclass_adds_permissions_after_the_owners_never_instead():
    assert _Scoped.permission_classes == [IsAuthenticated, IsOwner, _DenyWrites]
    assert _ScopedOpen.permission_classes == [IsAuthenticated, IsOwner]


@pytest.fixture
def scoped_urls(settings):
    settings.ROOT_URLCONF = __name__


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def test_lists_and_retrieves_only_the_requesters_rows(scoped_urls, user, other_user):
    mine = TaskFactory.create(owner=user)
    theirs = TaskFactory.create(owner=other_user)
    client = _client(user)
    listed = client.get("/scoped/").json()
    assert [row["id"] for row in listed] == [str(mine.pk)]
    assert client.get(f"/scoped/{theirs.pk}/").status_code == status.HTTP_404_NOT_FOUND
    assert client.get(f"/scoped/{mine.pk}/").status_code == status.HTTP_200_OK


def test_anonymous_callers_are_refused_even_without_the_owner_permission_listed(
    scoped_urls,
):
    response = APIClient().post("/open/", {"title": "x"}, format="json")
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert not Task.objects.exists()


def test_create_sets_the_owner_itself_whatever_the_body_says(
    scoped_urls, user, other_user
):
    response = _client(user).post(
        "/open/", {"title": "mine", "owner": str(other_user.pk)}, format="json"
    )
    assert response.status_code == status.HTTP_201_CREATED
    task = Task.objects.get(pk=response.json()["id"])
    assert task.owner_id == user.pk


def test_a_subclass_permission_still_applies(scoped_urls, user):
    response = _client(user).post("/scoped/", {"title": "x"}, format="json")
    assert response.status_code == status.HTTP_403_FORBIDDEN
    assert not Task.objects.exists()


def test_drf_mixins_cannot_shadow_the_bases_members():
    for name in ("perform_create", "get_object", "get_queryset", "get_row"):
        assert getattr(_ScopedOpen, name) is OwnerScopedViewSet.__dict__[name]


def test_a_mixin_of_our_own_that_defines_a_guarded_member_is_refused():
    class Sneaky:
        def get_object(self):
            return None

    with pytest.raises(TypeError, match="may not define get_object"):
        type("Leaky", (Sneaky, OwnerScopedViewSet), {"model": Task})


def test_a_subclass_of_a_scoped_viewset_is_scoped_and_guarded_too():
    class Child(_ScopedOpen):
        pass

    assert Child.get_queryset is OwnerScopedViewSet.__dict__["get_queryset"]
    assert Child.perform_create is OwnerScopedViewSet.__dict__["perform_create"]
    with pytest.raises(TypeError, match="may not define get_object"):
        type("Grandchild", (Child,), {"get_object": lambda self: None})


# --- owner_rows: SQL compiled once per shape, the owner bound per request ----------


class _TitleIs(BaseFilterBackend):
    """A filter backend that narrows the rows whenever ``?title=`` is given."""

    def filter_queryset(self, request, queryset, view):
        title = request.query_params.get("title")
        return queryset if title is None else queryset.filter(title=title)


class _Readable(OwnerScopedViewSet):
    model = Task
    filter_backends = [_TitleIs]


def _view(user, params=None) -> _Readable:
    view = _Readable()
    view.request = Request(APIRequestFactory().get("/", params or {}))
    view.request.user = user
    view.format_kwarg = None
    return view


def _titles_after(rows, after=None):
    if after is None:
        after = Slot("after", Task._meta.get_field("title"))
    return rows.filter(title__gt=after).order_by("title").values_list("id", "title")


def _compiled(key) -> list:
    return [
        c for k, c in scoping._COMPILED.items() if k[0] is _Readable and k[2] == key
    ]


def test_owner_rows_binds_the_requester_into_one_cached_sql(user, other_user):
    mine = {TaskFactory.create(owner=user, title=t).pk for t in ("b", "c")}
    theirs = {TaskFactory.create(owner=other_user, title=t).pk for t in ("b", "c")}

    for owner, expected in [(user, mine), (other_user, theirs), (user, mine)]:
        rows = _view(owner).owner_rows().read("titles", _titles_after, after="a")
        assert {pk for pk, _ in rows} == expected
        assert all(isinstance(pk, uuid.UUID) for pk, _ in rows)
    assert len(_compiled("titles")) == 1


def test_the_slots_take_each_requests_values(user):
    for title in ("a", "b", "c"):
        TaskFactory.create(owner=user, title=title)
    view = _view(user)

    for after, expected in [("a", ["b", "c"]), ("b", ["c"]), ("c", [])]:
        rows = view.owner_rows().read("titles", _titles_after, after=after)
        assert [title for _, title in rows] == expected


def test_the_cached_sql_is_the_owners_queryset_compiled(user):
    view = _view(user)
    view.owner_rows().read("titles", _titles_after, after="a")
    (cached,) = _compiled("titles")

    owner = OpaqueSlot("owner", User._meta.pk)
    fresh = scoping._compile(_titles_after(view._rows_of(owner)))
    assert (cached.sql, cached.params) == (fresh.sql, fresh.params)
    # get_queryset()'s own SQL (the slots in parentheses, the owner's hidden from
    # PostgreSQL's planner) and values.
    query = _titles_after(view.get_queryset(), after="a").query
    sql, params = query.sql_with_params()
    opaque = "(SELECT %s::uuid)" if connection.vendor == "postgresql" else "(%s)"
    assert f'"todos_task"."owner_id" = {opaque}' in cached.sql
    assert cached.sql.replace(opaque, "%s").replace("(%s)", "%s") == sql
    assert [p.name for p in cached.params] == ["owner", "after"]
    values = {"owner": user.pk, "after": "a"}
    bound = [
        p.output_field.get_db_prep_value(values[p.name], connection)
        for p in cached.params
    ]
    assert bound == list(params)


def test_rows_a_filter_backend_narrows_are_compiled_for_the_request_alone(
    user, django_assert_num_queries
):
    TaskFactory.create(owner=user, title="b")
    TaskFactory.create(owner=user, title="c")

    with django_assert_num_queries(1):
        rows = (
            _view(user, {"title": "c"})
            .owner_rows()
            .read("narrowed", _titles_after, after="a")
        )

    assert [title for _, title in rows] == ["c"]
    assert _compiled("narrowed") == []
    assert len(_view(user).owner_rows().read("narrowed", _titles_after, after="a")) == 2


@pytest.mark.postgres(reason="PostgreSQL's planner and its plan cache")
def test_only_unfiltered_rows_hide_the_owner_from_the_planner(user):
    view = _view(user)
    view.owner_rows().read("titles", _titles_after, after="a")
    (cached,) = _compiled("titles")
    assert '"todos_task"."owner_id" = (SELECT %s::uuid)' in cached.sql

    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        _view(user, {"title": "c"}).owner_rows().read(
            "titles", _titles_after, after="a"
        )
    (narrowed,) = statements
    assert '"todos_task"."owner_id" = (%s)' in narrowed
    assert "SELECT %s::uuid" not in narrowed


@pytest.mark.postgres(reason="PostgreSQL's planner and its plan cache")
def test_the_page_of_an_owner_with_many_rows_is_planned_once_not_each_time(user):
    """PostgreSQL chose a custom plan for every execution of the prepared page read
    of a user with far more rows than the others (their count in the statistics
    made it look cheaper); with the owner hidden it settles on the generic one."""
    if connection.settings_dict["OPTIONS"].get("prepare_threshold", 0) is None:
        pytest.skip("no prepared statements through a transaction pooler")
    others = [User.objects.create(email=f"few{n}@example.com") for n in range(40)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO todos_task (id, owner_id, title, created_at, updated_at) "
            "SELECT gen_random_uuid(), %s, 'task ' || n, now() - n * interval '1 s',"
            " now() FROM generate_series(1, 4000) AS n",
            [user.pk],
        )
        for other in others:
            TaskFactory.create_batch(2, owner=other)
        cursor.execute("ANALYZE todos_task")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))

    for _ in range(12):
        assert client.get("/api/v1/tasks/").status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%ORDER BY%%LIMIT 51'"
        )
        plans = cursor.fetchall()
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    assert generic >= 1, plans
    assert custom <= 5, plans


def _formats_read(view, key, build) -> tuple[list, list]:
    """The rows of ``build`` and the result format of each statement sent."""
    formats = []

    def spy(execute, sql, params, many, context):
        formats.append(context["cursor"].cursor.format)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        rows = view.owner_rows().read(key, build, after="a")
    return rows, formats


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's format")
def test_rows_whose_columns_load_the_same_come_in_binary(user):
    task = TaskFactory.create(owner=user, title="b")
    rows, formats = _formats_read(_view(user), "titles", _titles_after)
    assert rows == [(task.pk, "b")]
    # Binary with server-side binding; through the pooler (client-side) text.
    binds = connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    assert formats == [Format.BINARY if binds else Format.TEXT]
    (cached,) = _compiled("titles")
    assert cached.binary is binds


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's format")
def test_rows_with_a_column_django_reads_as_text_come_as_text(user):
    task = TaskFactory.create(owner=user, title="b")

    def with_json(rows, after=None):
        doc = Value({"kept": ["as", "text"]}, output_field=JSONField())
        return _titles_after(rows, after).annotate(doc=doc).values_list("id", "doc")

    rows, formats = _formats_read(_view(user), "with json", with_json)
    assert rows == [(task.pk, {"kept": ["as", "text"]})]
    assert formats == [Format.TEXT]


def test_a_query_that_matches_nothing_costs_no_query(user, django_assert_num_queries):
    TaskFactory.create(owner=user)
    with django_assert_num_queries(0):
        rows = (
            _view(user)
            .owner_rows()
            .read("none", lambda rows: rows.filter(pk__in=[]).values_list("id"))
        )
    assert rows == []


def test_owner_rows_reads_only_queries_of_the_owners_rows(user):
    everyones = Task.objects.values_list("id")
    with pytest.raises(ImproperlyConfigured, match="owner's rows"):
        _view(user).owner_rows().read("everyone", lambda rows: everyones)


def test_owner_rows_reads_values_list_queries_only(user):
    with pytest.raises(TypeError, match="values_list"):
        _view(user).owner_rows().read("models", lambda rows: rows.all())


# --- get_row: get_object() as a tuple ------------------------------------------------


class _NotSecret(BasePermission):
    def has_object_permission(self, request, view, obj):
        return obj.title != "secret"


class _Guarded(_Readable):
    permission_classes = [_NotSecret]


def _row_view(user, pk, cls=_Readable):
    view = cls()
    view.request = Request(APIRequestFactory().get("/"))
    view.request.user = user
    view.format_kwarg = None
    view.kwargs = {"pk": str(pk)}
    return view


def test_get_row_reads_the_owners_row_named_in_the_url(user):
    task = TaskFactory.create(owner=user, title="mine")

    row = _row_view(user, task.pk).get_row("id", "title", "version")

    assert row == (task.pk, "mine", task.version, user.pk)
    assert (row.pk, row.title, row.owner_id) == (task.pk, "mine", user.pk)


@pytest.mark.parametrize("whose", ["theirs", "missing", "malformed"])
def test_get_row_is_a_404_for_a_row_that_is_not_the_requesters(user, other_user, whose):
    pk = {
        "theirs": lambda: TaskFactory.create(owner=other_user).pk,
        "missing": uuid.uuid4,
        "malformed": lambda: "not-a-uuid",
    }[whose]()

    with pytest.raises(Http404):
        _row_view(user, pk).get_row("id", "title")


def test_get_row_checks_the_object_permissions_on_the_row(user):
    shown = TaskFactory.create(owner=user, title="shown")
    secret = TaskFactory.create(owner=user, title="secret")

    assert _row_view(user, shown.pk, _Guarded).get_row("id", "title").pk == shown.pk
    with pytest.raises(PermissionDenied):
        _row_view(user, secret.pk, _Guarded).get_row("id", "title")


def test_get_row_refuses_a_row_of_another_owner_should_one_slip_through(
    user, other_user
):
    """IsOwner, the second line, sees the row's owner whatever the fields asked."""
    task = TaskFactory.create(owner=user)
    view = _row_view(other_user, task.pk)
    row = scoping._row_type(("id", "owner_id"), "id")._make((task.pk, user.pk))

    with pytest.raises(PermissionDenied):
        view.check_object_permissions(view.request, row)


# --- get_row_condition: the row of the URL, unread, for a write to hold ------------


def _matching(condition) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT todos_task.id FROM todos_task WHERE {condition.sql}",
            condition.params,
        )
        return [row[0] for row in cursor.fetchall()]


def _pk(value):
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def test_get_row_condition_selects_the_owners_row_with_one_cached_where(
    user, other_user
):
    mine = TaskFactory.create(owner=user)
    theirs = TaskFactory.create(owner=other_user)

    for requester, task, found in [
        (user, mine, [mine.pk]),
        (user, theirs, []),
        (other_user, theirs, [theirs.pk]),
        (other_user, mine, []),
    ]:
        condition = _row_view(requester, task.pk).get_row_condition()
        assert [_pk(pk) for pk in _matching(condition)] == found
        assert condition.db == "default"
    (cached,) = _compiled(("where", ("row", "pk")))
    assert [p.name for p in cached.params if isinstance(p, Slot)] == [
        "owner",
        "lookup",
    ]


def test_the_cached_where_is_the_owners_queryset_compiled(user):
    task = TaskFactory.create(owner=user)
    _row_view(user, task.pk).get_row_condition()
    (cached,) = _compiled(("where", ("row", "pk")))

    view = _row_view(user, task.pk)
    rows = view._rows_of(OpaqueSlot("owner", User._meta.pk))
    fresh = scoping._compile_condition(rows.filter(pk=Slot("lookup", Task._meta.pk)))
    assert (cached.sql, cached.params) == (fresh.sql, fresh.params)


def test_get_row_condition_is_a_404_for_a_malformed_id(user):
    with pytest.raises(Http404):
        _row_view(user, "not-a-uuid").get_row_condition()


def test_a_filter_backend_narrows_the_condition_for_the_request_alone(user):
    task = TaskFactory.create(owner=user, title="b")
    view = _row_view(user, task.pk)
    view.request = Request(APIRequestFactory().get("/", {"title": "c"}))
    view.request.user = user

    key = (_Readable, "default", ("where", ("row", "pk")), False)
    scoping._COMPILED.pop(key, None)

    assert _matching(view.get_row_condition()) == []
    assert key not in scoping._COMPILED
    assert [
        _pk(pk) for pk in _matching(_row_view(user, task.pk).get_row_condition())
    ] == [task.pk]
    assert key in scoping._COMPILED


def test_a_view_with_object_permissions_gets_no_row_condition(user):
    task = TaskFactory.create(owner=user)
    with pytest.raises(ImproperlyConfigured, match="object permissions"):
        _row_view(user, task.pk, _Guarded).get_row_condition()


def test_a_condition_is_only_ever_on_the_owners_rows(user):
    everyones = Task.objects.filter(title="x")
    with pytest.raises(ImproperlyConfigured, match="owner's rows"):
        _view(user).owner_rows().condition("everyone", lambda rows: everyones)
