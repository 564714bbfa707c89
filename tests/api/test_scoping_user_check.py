"""api.scoping's folded user check: reads and writes of a task carry it, as strictly.

On PostgreSQL a task list or detail read, and a task's PATCH, PUT, complete, reopen
or DELETE, is one statement that reads rows only while the token's user exists, is
active and has the token's password digest; an empty answer, or any answer no
statement vouched for, checks the user on its own first. Every change to the
account below must get today's 401, whatever path the request takes, and a refused
write must change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.authentication import JWTAuthentication, PendingUser
from accounts.models import User
from api.models import IdempotencyRecord
from api.principals import PendingPrincipal
from api.scoping import OwnerScopedViewSet, RowCondition
from tests.factories import TaskFactory, UserFactory
from tests.support import revocations
from tests.support.problems import assert_problem
from todos.models import ChangeSequence, Task, TaskList, TaskTombstone
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
    # A cursor's signature carries the second it was signed in; both answers are
    # signed in the same one, so the bytes can be compared.
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1xZCPP")

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


# --- the writes: (request from the world, status with the account unchanged) --------


@dataclass
class WriteWorld(World):
    task_list: TaskList


@dataclass(frozen=True)
class Write:
    method: str
    url: Callable[[WriteWorld], str]
    body: Callable[[WriteWorld], dict[str, Any]] | None = None
    ok: int = status.HTTP_200_OK
    headers: Callable[[WriteWorld], dict[str, str]] = lambda w: {}
    # On PostgreSQL: whether the user's row is read in a statement of its own (the
    # write's statement read no row, or something read the user first), and how
    # many statements the request sends (None: not this table's business). On
    # SQLite the user is always read on its own, by the authentication.
    alone: bool = False
    statements: int | None = 1

    def send(self, world: WriteWorld) -> Any:
        call = getattr(world.client, self.method)
        body = None if self.body is None else self.body(world)
        return call(self.url(world), body, format="json", **self.headers(world))


def _action(name: str) -> Callable[[WriteWorld], str]:
    return lambda w: reverse(f"todos:task-{name}", args=[w.task.pk])


def _own(w: WriteWorld) -> str:
    return _detail(w.task.pk)


def _title(w: WriteWorld) -> dict[str, Any]:
    return {"title": "N"}


def _if_match(version: int | None = None) -> Callable[[WriteWorld], dict[str, str]]:
    def headers(w: WriteWorld) -> dict[str, str]:
        wanted = w.task.version if version is None else version
        return {"HTTP_IF_MATCH": f'"{w.task.pk}.{wanted}"'}

    return headers


WRITES = [
    pytest.param(Write("post", lambda w: TASKS, _title, 201), id="create"),
    pytest.param(
        Write("post", lambda w: TASKS, lambda w: {"title": "N", "labels": []}, 201),
        id="create-no-labels",
    ),
    # The serializer reads the user's list, so it checks the user first.
    pytest.param(
        Write(
            "post",
            lambda w: TASKS,
            lambda w: {"title": "N", "list": str(w.task_list.pk)},
            201,
            alone=True,
            statements=3,
        ),
        id="create-in-a-list",
    ),
    pytest.param(
        Write(
            "post",
            lambda w: TASKS,
            _title,
            201,
            headers=lambda w: {"HTTP_IDEMPOTENCY_KEY": "create-1"},
            alone=True,
            statements=None,
        ),
        id="create-idempotency-key",
    ),
    pytest.param(Write("patch", _own, _title), id="patch"),
    pytest.param(
        Write("patch", _own, _title, headers=_if_match()), id="patch-if-match"
    ),
    pytest.param(
        Write("put", _own, lambda w: {"title": "N", "status": "completed"}), id="put"
    ),
    pytest.param(Write("post", _action("complete")), id="complete"),
    pytest.param(Write("post", _action("reopen")), id="reopen"),
    pytest.param(
        Write("delete", _own, ok=204, headers=_if_match()), id="delete-if-match"
    ),
    # The row read, nothing written: the statement vouched all the same.
    pytest.param(
        Write("patch", _own, _title, 412, headers=_if_match(9)),
        id="patch-stale-if-match",
    ),
    # No row read: the user's own statement decides between 401 and 404.
    pytest.param(
        Write(
            "patch",
            lambda w: _detail(uuid.uuid4()),
            _title,
            404,
            alone=True,
            statements=2,
        ),
        id="patch-missing",
    ),
    pytest.param(
        Write(
            "delete", lambda w: _detail(w.others.pk), ok=404, alone=True, statements=2
        ),
        id="delete-another-users",
    ),
    pytest.param(
        Write(
            "post",
            lambda w: reverse("todos:task-complete", args=["x"]),
            ok=404,
            alone=True,
        ),
        id="complete-malformed-id",
    ),
    # Refused before any write (400, after get_object's 404 and 412).
    pytest.param(
        Write("patch", _own, lambda w: {"title": ""}, 400, alone=True, statements=None),
        id="patch-invalid",
    ),
    # The serializer reads the user's lists, so it checks the user first.
    pytest.param(
        Write(
            "patch",
            _own,
            lambda w: {"list": str(w.task_list.pk)},
            alone=True,
            statements=None,
        ),
        id="patch-list",
    ),
    # A key's record is kept under the user: the user is checked before it.
    pytest.param(
        Write(
            "post",
            _action("complete"),
            headers=lambda w: {"HTTP_IDEMPOTENCY_KEY": "complete-1"},
            alone=True,
            statements=None,
        ),
        id="complete-idempotency-key",
    ),
]


def _write_world() -> WriteWorld:
    world = _world()
    # The newest task the same for every world, and completed, so that reopen has
    # something to do.
    Task.objects.filter(pk=world.task.pk).update(
        title="Same",
        description="",
        due_at=None,
        priority=20,
        status="completed",
        completed_at=timezone.now(),
    )
    world.task.refresh_from_db()
    task_list = TaskList.objects.create(owner=world.user, name="Errands", position=1)
    return WriteWorld(**vars(world), task_list=task_list)


def _stored(world: WriteWorld) -> list[tuple[Any, ...]]:
    """What a refused write may not touch: the tasks, their labels, the change
    sequences, tombstones and idempotency records."""
    return [
        tuple(Task.objects.order_by("pk").values_list()),
        tuple(TaskTombstone.objects.order_by("pk").values_list()),
        tuple(ChangeSequence.objects.order_by("pk").values_list()),
        tuple(IdempotencyRecord.objects.order_by("pk").values_list("scope", "key")),
    ]


def _user_alone(statements: list[str]) -> int:
    return sum(
        1
        for sql in statements
        if sql.lstrip().startswith("SELECT") and ('FROM "accounts_user"' in sql)
    )


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(("change", "code"), revocations.CHANGES)
def test_a_write_is_refused_after_the_account_changed_and_changes_nothing(
    write: Write, change: Callable[[User], None], code: str
) -> None:
    world = _write_world()
    change(world.user)
    before = _stored(world)

    response = write.send(world)

    assert_problem(response, status.HTTP_401_UNAUTHORIZED, code)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not getattr(response.wsgi_request.user, "is_authenticated", False)
    assert _stored(world) == before


@pytest.mark.parametrize("write", WRITES)
def test_the_same_write_with_the_account_unchanged_is_served(write: Write) -> None:
    """The control for the table, with the statements each path costs."""
    world = _write_world()

    with CaptureQueriesContext(connection) as queries:
        response = write.send(world)

    assert response.status_code == write.ok, response.content
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    # Every answer rests on a statement that read the user's row: the write's
    # own, or one of the user alone.
    assert any('"accounts_user"' in sql for sql in statements)
    if not POSTGRESQL:
        assert _user_alone(statements) == 1
        return
    assert _user_alone(statements) == int(write.alone), statements
    if write.statements is not None:
        assert len(statements) == write.statements, statements
    if not write.alone:
        (statement,) = statements
        assert statement.lstrip().startswith("WITH")
        assert "MD5" in statement


@pytest.mark.parametrize("write", WRITES)
def test_a_folded_write_answers_what_the_unfolded_one_does(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two users with the same tasks: the same write, folded for one and not for
    the other, gives the same answer and leaves the same task."""
    worlds = [_write_world(), _write_world()]

    folded = write.send(worlds[0])
    monkeypatch.setattr(TaskViewSet, "fold_user_check", frozenset({"list", "retrieve"}))
    with CaptureQueriesContext(connection) as queries:
        unfolded = write.send(worlds[1])

    assert 'FROM "accounts_user"' in queries.captured_queries[0]["sql"]
    assert folded.status_code == unfolded.status_code == write.ok
    assert _comparable(folded, worlds[0]) == _comparable(unfolded, worlds[1])
    assert _comparable_task(worlds[0]) == _comparable_task(worlds[1])


# What differs between two users' otherwise equal tasks.
_THEIRS = (
    "id",
    "owner_id",
    "list_id",
    "list",
    "created_at",
    "updated_at",
    "completed_at",
    "position",
    "change_seq",
)


def _comparable(response: Any, world: WriteWorld) -> Any:
    if not response.content:
        return None
    document = response.json()
    return {k: v for k, v in document.items() if k not in _THEIRS} | {
        "list is theirs": document.get("list") in (None, str(world.task_list.pk))
    }


def _comparable_task(world: WriteWorld) -> Any:
    task = Task.objects.filter(pk=world.task.pk).values().first()
    if task is None:
        return None
    return {k: v for k, v in task.items() if k not in _THEIRS}


def test_a_row_condition_vouches_only_for_the_requester_it_carries() -> None:
    vouched: list[bool] = []

    class Pending(PendingPrincipal):
        def vouch(self) -> None:
            vouched.append(True)

    RowCondition("TRUE", [], "default").matched()
    assert vouched == []
    RowCondition("TRUE", [], "default", Pending()).matched()
    assert vouched == [True]


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
    for action in TaskViewSet.fold_user_check:
        pending = _authenticate(_view(action), token)
        assert isinstance(pending, PendingUser) is POSTGRESQL
    assert {"list", "retrieve", "create", "partial_update", "destroy"} <= (
        TaskViewSet.fold_user_check
    )
    for other in ("changes", "bulk", "move", None):
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
