"""api.scoping's folded user check: the list and detail read carry it, as strictly.

On PostgreSQL a task list or detail read is one statement that returns rows only
while the token's user exists, is active and has the token's password digest; an
empty answer, or any answer the read did not vouch for, checks the user on its own
first. Every race below must get today's 401, whatever path the request takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.authentication import JWTAuthentication, PendingUser
from accounts.models import User
from api.scoping import OwnerScopedViewSet
from tests.factories import TaskFactory, UserFactory
from tests.support import revocations
from tests.support.problems import assert_problem
from todos.models import Task
from todos.views import TaskViewSet

pytestmark = pytest.mark.django_db

TASKS = reverse("todos:task-list")
POSTGRESQL = connection.vendor == "postgresql"


def _access(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    return client


def _detail(pk: Any) -> str:
    return reverse("todos:task-detail", args=[pk])


# --- what happens to the account between the token's issue and the request ---------


# --- the reads: (url from the world, rows the answer holds) ---------------------------


@dataclass
class World:
    user: User
    client: APIClient
    task: Task  # the user's newest task
    others: Task  # another user's task
    next_page: str  # the list's second page (page_size=1), cursor signed for user


def _world(*, tasks: int = 3) -> World:
    user = UserFactory.create()
    own = [TaskFactory.create(owner=user) for _ in range(tasks)]
    others = TaskFactory.create()
    client = _client(user)
    next_page = ""
    if tasks:
        first = client.get(TASKS, {"page_size": 1})
        assert first.status_code == status.HTTP_200_OK, first.content
        next_page = first.json()["next"]
        assert next_page
    return World(user, client, own[-1] if own else others, others, next_page)


@dataclass(frozen=True)
class Read:
    url: Callable[[World], str]
    ok: int
    # Statements on PostgreSQL (the fold: 1 when the answer holds rows, the user's
    # own statement after an empty one) and on SQLite (the user, then the rows).
    postgresql: int
    sqlite: int
    tasks: int = 3


READS = [
    pytest.param(Read(lambda w: TASKS, 200, 1, 2), id="list"),
    pytest.param(Read(lambda w: w.next_page, 200, 1, 2), id="list-cursor-page"),
    pytest.param(Read(lambda w: TASKS, 200, 2, 2, tasks=0), id="list-empty"),
    pytest.param(
        Read(lambda w: f"{TASKS}?status=pending,in_progress,completed", 200, 1, 2),
        id="list-filtered",
    ),
    pytest.param(
        Read(lambda w: f"{TASKS}?search=no-such-words-anywhere", 200, 2, 2),
        id="list-filtered-empty",
    ),
    pytest.param(Read(lambda w: _detail(w.task.pk), 200, 1, 2), id="detail"),
    pytest.param(Read(lambda w: _detail(uuid.uuid4()), 404, 2, 2), id="detail-missing"),
    pytest.param(
        Read(lambda w: _detail(w.others.pk), 404, 2, 2), id="detail-another-users"
    ),
    # Refused before any read: the user's statement alone.
    pytest.param(
        Read(lambda w: _detail("not-a-uuid"), 404, 1, 1), id="detail-malformed-id"
    ),
    pytest.param(
        Read(lambda w: f"{TASKS}?cursor=forged", 400, 1, 1), id="list-bad-cursor"
    ),
]


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize(("change", "code"), revocations.CHANGES)
def test_a_read_is_refused_after_the_account_changed(
    read: Read, change: Callable[[User], None], code: str
) -> None:
    world = _world(tasks=read.tasks)
    url = read.url(world)
    change(world.user)

    response = world.client.get(url)

    assert_problem(response, status.HTTP_401_UNAUTHORIZED, code)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    # As when the authentication class refuses: no user on the request (the log).
    assert not getattr(response.wsgi_request.user, "is_authenticated", False)


@pytest.mark.parametrize("read", READS)
def test_the_same_read_with_the_account_unchanged_is_served(read: Read) -> None:
    """The control for the table, with the statements each path costs."""
    world = _world(tasks=read.tasks)
    url = read.url(world)

    with CaptureQueriesContext(connection) as queries:
        response = world.client.get(url)

    assert response.status_code == read.ok, response.content
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == (read.postgresql if POSTGRESQL else read.sqlite)
    # Every answer rests on a statement that read the user's row.
    assert any('"accounts_user"' in sql for sql in statements)
    if POSTGRESQL and read.postgresql == 1 and read.sqlite == 2:
        assert 'FROM "todos_task"' in statements[0]


@pytest.mark.parametrize("read", READS)
def test_a_folded_read_answers_what_the_unfolded_one_does(
    read: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(tasks=read.tasks)
    url = read.url(world)

    folded = world.client.get(url)
    monkeypatch.setattr(TaskViewSet, "fold_user_check", frozenset())
    with CaptureQueriesContext(connection) as queries:
        unfolded = world.client.get(url)

    assert 'FROM "accounts_user"' in queries.captured_queries[0]["sql"]
    assert folded.status_code == unfolded.status_code == read.ok
    assert folded.content == unfolded.content
    assert folded.get("ETag") == unfolded.get("ETag")
    assert folded["Content-Type"] == unfolded["Content-Type"]


def test_a_not_modified_detail_is_one_statement_and_refused_after_a_change() -> None:
    world = _world()
    url = _detail(world.task.pk)
    etag = world.client.get(url)["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = world.client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == status.HTTP_304_NOT_MODIFIED
    assert len(queries.captured_queries) == (1 if POSTGRESQL else 2)

    revocations.deactivate(world.user)
    response = world.client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert_problem(response, status.HTTP_401_UNAUTHORIZED, "user-inactive")


def test_a_reactivated_user_is_served_again_by_the_folded_read() -> None:
    """Nothing remembers a refusal: the check runs with every read."""
    world = _world()
    revocations.deactivate(world.user)
    assert_problem(world.client.get(TASKS), status.HTTP_401_UNAUTHORIZED)

    User.objects.filter(pk=world.user.pk).update(is_active=True)

    assert world.client.get(TASKS).status_code == status.HTTP_200_OK


# --- the pending principal ------------------------------------------------------------


def _authenticate(view: Any, token: str) -> Any:
    request = Request(
        APIRequestFactory().get(TASKS, HTTP_AUTHORIZATION=f"Bearer {token}"),
        parser_context={"view": view},
    )
    result = JWTAuthentication().authenticate(request)
    assert result is not None
    return result[0]


def _view(action: str) -> TaskViewSet:
    view = TaskViewSet()
    view.action = action
    return view


def test_only_the_folding_actions_on_postgresql_get_a_pending_user(user: User) -> None:
    token = _access(user)
    for action in ("list", "retrieve"):
        pending = _authenticate(_view(action), token)
        assert isinstance(pending, PendingUser) is POSTGRESQL
    for other in ("create", "update", "partial_update", "destroy", "changes", None):
        assert isinstance(_authenticate(_view(other), token), User)  # type: ignore[arg-type]


@pytest.mark.skipif(not POSTGRESQL, reason="the fold is PostgreSQL's")
def test_a_pending_user_is_the_tokens_user_and_verifies_before_anything_else(
    user: User, django_assert_num_queries: Any
) -> None:
    token = _access(user)
    with django_assert_num_queries(0):
        pending = _authenticate(_view("list"), token)
        assert pending.is_authenticated
        assert not pending.is_anonymous
        assert pending.pk == pending.id == user.pk
        assert pending.digest == get_md5_hash_password(user.password)
        assert not pending.settled
    with django_assert_num_queries(1):
        assert pending.email == user.email
        assert pending.settled
    revocations.deactivate(user)
    stale = _authenticate(_view("list"), token)
    with pytest.raises(exceptions.AuthenticationFailed) as refused:
        stale.email  # noqa: B018 (the access is the test)
    assert refused.value.detail["code"] == "user_inactive"  # type: ignore[call-overload,index]


@pytest.mark.skipif(not POSTGRESQL, reason="SQLite has no md5()")
@pytest.mark.parametrize(
    "password", ["An0ther-long-passphrase", "pässwörd-ünïcode-€", None]
)
def test_the_databases_digest_is_simplejwts(password: str | None) -> None:
    user = UserFactory.create()
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT upper(md5(password)) FROM accounts_user WHERE id = %s", [user.pk]
        )
        (digest,) = cursor.fetchone()

    assert digest == get_md5_hash_password(user.password)
    assert digest == digest.upper()
    assert len(digest) == 32


# --- fails closed: an answer no read vouched for ------------------------------------


class NeverReads(OwnerScopedViewSet):
    """Declares the fold but answers without reading a row."""

    model = Task
    fold_user_check = frozenset({"list", "retrieve"})

    def list(self, request: Request) -> Response:
        return Response({"ok": True})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        raise exceptions.ValidationError({"pk": ["Refused before any read."]})


def _call(action: str, token: str) -> Any:
    view = NeverReads.as_view({"get": action})
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    response = view(request, **({"pk": "x"} if action == "retrieve" else {}))
    response.render()
    return response


@pytest.mark.parametrize(
    ("action", "ok"), [("list", 200), ("retrieve", 400)], ids=["200", "400"]
)
@pytest.mark.parametrize(("change", "code"), revocations.CHANGES)
def test_an_answer_without_a_read_checks_the_user_first(
    action: str, ok: int, change: Callable[[User], None], code: str
) -> None:
    user = UserFactory.create()
    token = _access(user)
    assert _call(action, token).status_code == ok
    change(user)

    response = _call(action, token)

    assert_problem(response, status.HTTP_401_UNAUTHORIZED, code)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_answer_without_a_read_costs_the_user_statement(user: User) -> None:
    token = _access(user)
    with CaptureQueriesContext(connection) as queries:
        assert _call("list", token).status_code == status.HTTP_200_OK
    (statement,) = (q["sql"] for q in queries.captured_queries)
    assert 'FROM "accounts_user"' in statement


def test_a_viewset_may_not_replace_the_guard() -> None:
    with pytest.raises(TypeError, match="finalize_response"):

        class Bypass(OwnerScopedViewSet):
            model = Task

            def finalize_response(self, *args: Any, **kwargs: Any) -> Any:
                return None

    with pytest.raises(TypeError, match="folds_user_check"):

        class Bypass2(OwnerScopedViewSet):
            model = Task

            def folds_user_check(self) -> bool:
                return True


@pytest.mark.skipif(not POSTGRESQL, reason="the fold is PostgreSQL's")
def test_the_owner_of_a_folding_view_is_a_checked_user(user: User) -> None:
    """Writes and any read but owner_rows() go through ``owner``: never pending."""
    token = _access(user)
    view = _view("list")
    view.request = Request(APIRequestFactory().get(TASKS))
    view.request.user = _authenticate(view, token)
    assert isinstance(view.request.user, PendingUser)

    assert type(view.owner) is User
    assert view.owner.pk == user.pk
    assert list(view.get_queryset()) == []

    revocations.deactivate(user)
    view.request.user = _authenticate(view, token)
    with pytest.raises(exceptions.AuthenticationFailed):
        view.owner  # noqa: B018 (the access is the test)
