"""api.postgresql: Django's backend with psycopg's compiled timestamptz loader."""

from __future__ import annotations

import datetime
import select
import time
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.utils import ProgrammingError
from django.test.utils import CaptureQueriesContext
from psycopg.postgres import types
from psycopg.pq import Format

from accounts.models import User
from api.postgresql import statement_cursor
from api.postgresql.base import DatabaseWrapper
from tests.factories import TaskFactory
from todos.models import Task

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="a PostgreSQL backend"
    ),
]

TIMESTAMPTZ = types["timestamptz"].oid
SQL = (
    "SELECT t.created_at, t.updated_at, t.due_at, u.date_joined, "
    "'2024-02-29 23:59:59.000001+00'::timestamptz, "
    "'1999-12-31 19:00:00-05'::timestamptz "
    "FROM todos_task t JOIN accounts_user u ON u.id = t.owner_id WHERE t.id = %s"
)


def test_the_connection_reads_timestamptz_with_the_compiled_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
    assert loader is not None
    assert loader.__module__.startswith("psycopg_binary"), loader


def test_values_equal_what_djangos_own_loader_reads():
    task = TaskFactory.create(
        due_at=datetime.datetime(2031, 1, 31, 17, tzinfo=datetime.UTC)
    )
    with connection.cursor() as cursor:
        cursor.execute(SQL, [task.pk])
        compiled = cursor.fetchone()
    with connection.cursor() as cursor:
        # Django's stock loader, pinned to UTC, on this cursor only.
        register_tzloader(datetime.UTC, cursor.cursor)
        cursor.execute(SQL, [task.pk])
        stock = cursor.fetchone()
    assert compiled == stock
    for ours, theirs in zip(compiled, stock, strict=True):
        assert ours.utcoffset() == datetime.timedelta(0)
        assert ours.isoformat() == theirs.isoformat()


def test_the_orm_reads_aware_utc_datetimes():
    task = TaskFactory.create()
    again = Task.objects.get(pk=task.pk)
    assert again.created_at == task.created_at
    assert again.created_at.utcoffset() == datetime.timedelta(0)
    assert again.owner.date_joined == task.owner.date_joined


# --- Rows in binary: the same values for less work on both sides -------------------

EVERY_TASK_COLUMN = (
    "SELECT t.id, t.owner_id, t.list_id, t.title, t.description, t.status, "
    "t.priority, t.position, t.version, t.due_at, t.completed_at, t.created_at, "
    "t.updated_at, u.is_active, u.email, u.date_joined, "
    "'2024-02-29 23:59:59.000001+00'::timestamptz, '2024-02-29'::date, "
    "'a,b'::text FROM todos_task t JOIN accounts_user u ON u.id = t.owner_id "
    "WHERE t.id = %s"
)


def _backend() -> DatabaseWrapper:
    """The default connection itself (``connection`` is a proxy to it)."""
    backend = connections[DEFAULT_DB_ALIAS]
    assert isinstance(backend, DatabaseWrapper)
    return backend


def _read(sql, params, *, binary):
    with connection.cursor() as cursor:
        if binary:
            _backend().read_binary(cursor)
        cursor.execute(sql, params)
        return cursor.fetchone(), cursor.cursor.format


binds_on_the_server = pytest.mark.skipif(
    connection.settings_dict["OPTIONS"].get("server_side_binding") is not True,
    reason=(
        "binary results need server-side binding; the pooled CI run binds on the "
        "client (test_client_side_binding_reads_no_rows_in_binary holds it to text)"
    ),
)


@binds_on_the_server
def test_rows_read_in_binary_are_the_rows_read_as_text():
    task = TaskFactory.create(
        due_at=datetime.datetime(2031, 1, 31, 17, 5, 1, 7, tzinfo=datetime.UTC),
        completed_at=None,
    )
    text, text_format = _read(EVERY_TASK_COLUMN, [task.pk], binary=False)
    binary, binary_format = _read(EVERY_TASK_COLUMN, [task.pk], binary=True)
    assert (text_format, binary_format) == (Format.TEXT, Format.BINARY)
    assert binary == text
    assert [type(value) for value in binary] == [type(value) for value in text]
    times = [value for value in binary if isinstance(value, datetime.datetime)]
    assert len(times) == 5
    assert all(value.tzinfo is datetime.UTC for value in times)


def test_only_fields_that_load_the_same_are_read_in_binary(monkeypatch):
    backend = _backend()
    monkeypatch.setitem(backend.settings_dict["OPTIONS"], "server_side_binding", True)

    def field(model, name):
        return model._meta.get_field(name)

    # uuid, text, integers, booleans, times, and a foreign key (its target's uuid).
    same = [
        field(Task, name)
        for name in ("id", "title", "description", "priority", "due_at", "list")
    ] + [field(User, "is_active"), field(User, "date_joined")]
    assert backend.reads_in_binary(same)
    assert backend.reads_in_binary([])
    # Django reads JSON, inet and cidr as text; psycopg's binary load parses them.
    for other in (models.JSONField(), models.GenericIPAddressField()):
        assert not backend.reads_in_binary([other])
        assert not backend.reads_in_binary([*same, other])


def test_no_rows_in_binary_unless_the_compiled_timestamptz_loader_reads_the_times(
    monkeypatch,
):
    fields: list[Any] = [Task._meta.get_field("created_at"), Task._meta.get_field("id")]
    backend = _backend()
    monkeypatch.setitem(backend.settings_dict["OPTIONS"], "server_side_binding", True)
    assert backend.reads_in_binary(fields)
    # In any other zone Django pins its own (text) loader to it; binary would not be.
    monkeypatch.setattr(backend, "_compiled_timestamptz", lambda: False)
    assert not backend.reads_in_binary(fields)


def test_client_side_binding_reads_no_rows_in_binary(monkeypatch):
    # psycopg's client-side cursors (how the pooled configuration binds) refuse
    # binary results.
    fields: list[Any] = [Task._meta.get_field("id")]
    backend = _backend()
    monkeypatch.setitem(backend.settings_dict["OPTIONS"], "server_side_binding", True)
    assert backend.reads_in_binary(fields)
    for binding in (False, None):
        monkeypatch.setitem(
            backend.settings_dict["OPTIONS"], "server_side_binding", binding
        )
        assert not backend.reads_in_binary(fields)


# --- The health check: no round trip on a connection that is plainly alive ---------

# Through a transaction pooler the socket is the pooler's: it keeps its own server
# connections alive (a backend killed behind it is its business) and hands each
# transaction any of them, so backend ids, a backend's goodbye and LISTEN mean
# nothing to the client. These hold the check to a direct connection.
direct_connection = pytest.mark.skipif(
    getattr(settings, "DATABASE_POOLER", "") == "transaction",
    reason=(
        "a requirement of direct connections; through the pooled CI run's "
        "transaction pooler the socket is PgBouncer's"
    ),
)


@pytest.fixture
def checks(monkeypatch) -> list[bool]:
    """Each SELECT 1 Django's health check sends, with its outcome."""
    sent: list[bool] = []
    is_usable = connection.is_usable

    def counted() -> bool:
        sent.append(is_usable())
        return sent[-1]

    monkeypatch.setattr(connection, "is_usable", counted)
    return sent


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _next_request() -> None:
    """What Django does between two requests on a persistent connection."""
    connection.close_if_unusable_or_obsolete()


@direct_connection
@pytest.mark.django_db(transaction=True)
def test_an_idle_live_connection_is_reused_without_a_select_1(checks, settings):
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    pid = _backend_pid()
    for _ in range(3):
        _next_request()
        assert _backend_pid() == pid
    assert checks == []


@direct_connection
@pytest.mark.django_db(transaction=True)
def test_a_terminated_backend_is_noticed_and_replaced_before_it_is_used(checks):
    pid = _backend_pid()
    with psycopg.connect(**_direct_params(), autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's goodbye reaches the socket a moment later.
    fd = connection.connection.fileno()
    deadline = time.monotonic() + 5
    while not select.select([fd], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the terminated backend said nothing"
    _next_request()
    assert _backend_pid() != pid
    assert checks == [False]


@direct_connection
@pytest.mark.django_db(transaction=True)
def test_a_connection_with_something_to_read_gets_the_full_check(checks):
    pid = _backend_pid()
    # Pending input of any kind (here a notice the server sends on its own) makes
    # the socket readable: Django's SELECT 1 then decides, and keeps this one.
    with connection.cursor() as cursor:
        cursor.execute("LISTEN health_check_probe")
    with psycopg.connect(**_direct_params(), autocommit=True) as other:
        other.execute("NOTIFY health_check_probe")
    fd = connection.connection.fileno()
    deadline = time.monotonic() + 5
    while not select.select([fd], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the notification never arrived"
    _next_request()
    assert _backend_pid() == pid
    assert checks == [True]
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")


def _direct_params() -> dict:
    params = connection.get_connection_params()
    params.pop("context", None)
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    return params


# --- Batches within one statement's 65,535 parameters ------------------------------


@pytest.mark.scale
def test_an_account_with_more_tasks_than_a_statement_has_parameters_can_be_deleted():
    """The cascade's IN list is batched: more than 65,535 tasks used to fail."""
    from accounts import services
    from api.postgresql.base import MAX_PARAMETERS
    from tests.factories import UserFactory

    user = UserFactory.create()
    tasks = [Task(owner=user, title=f"t{n}") for n in range(MAX_PARAMETERS + 10)]
    Task.objects.bulk_create(tasks, batch_size=5000)
    assert Task.objects.filter(owner=user).count() == MAX_PARAMETERS + 10

    services.user_delete(user=user)

    assert not Task.objects.filter(owner_id=user.pk).exists()


def test_batches_fit_in_one_statement():
    ops = connection.ops
    assert ops.bulk_batch_size(["a"] * 10, list(range(100_000))) == 6553
    assert ops.bulk_batch_size(["a"], list(range(100_000))) == 65535
    assert ops.bulk_batch_size([], list(range(3))) == 3
    assert ops.bulk_batch_size(["a"] * 70_000, [1, 2]) == 1


# statement_cursor(): one psycopg cursor kept per connection for the hot path.


def _kept_cursor() -> Any:
    with statement_cursor(connection) as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
        return cursor.cursor


def test_the_statement_cursor_is_kept_from_one_statement_to_the_next():
    first = _kept_cursor()
    assert not first.closed
    assert _kept_cursor() is first
    task = TaskFactory.create()
    with statement_cursor(connection) as cursor:
        cursor.execute("SELECT title FROM todos_task WHERE id = %s", [task.pk])
        assert cursor.fetchall() == [(task.title,)]
    assert cursor.cursor is first


def test_a_closed_statement_cursor_is_replaced_by_a_new_one():
    first = _kept_cursor()
    first.close()
    second = _kept_cursor()
    assert second is not first
    assert not second.closed


@pytest.mark.django_db(transaction=True)
def test_a_closed_connection_drops_its_statement_cursor():
    first = _kept_cursor()
    connection.close()
    assert _backend()._kept_cursor is None
    second = _kept_cursor()
    assert second is not first
    assert second.connection is connection.connection


@binds_on_the_server
def test_the_statement_cursor_reads_text_after_a_read_in_binary():
    task = TaskFactory.create()
    sql = "SELECT id, created_at FROM todos_task WHERE id = %s"
    with statement_cursor(connection) as cursor:
        _backend().read_binary(cursor)
        cursor.execute(sql, [task.pk])
        binary = cursor.fetchone()
    with statement_cursor(connection) as cursor:
        assert cursor.cursor.format == Format.TEXT
        cursor.execute(sql, [task.pk])
        assert cursor.fetchone() == binary == (task.pk, task.created_at)


def test_the_statement_cursor_is_djangos_cursor_around_it():
    """Execute wrappers, the query log and Django's errors, as ``cursor()``."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, *args: Any) -> Any:
        seen.append(sql)
        return execute(sql, *args)

    with (
        CaptureQueriesContext(connection) as queries,
        connection.execute_wrapper(wrapper),
        statement_cursor(connection) as cursor,
    ):
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert seen == ["SELECT 2"]
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 2"]
    with (
        pytest.raises(ProgrammingError),
        transaction.atomic(),
        statement_cursor(connection) as cursor,
    ):
        cursor.execute("SELECT no_such_column FROM todos_task")
    # The kept cursor is still usable after the error.
    assert _kept_cursor() is cursor.cursor


def test_other_backends_get_their_own_cursor():
    class Other:
        def cursor(self) -> str:
            return "its cursor"

    assert statement_cursor(Other()) == "its cursor"


def test_requests_after_the_first_make_no_psycopg_cursor(
    auth_client, user, monkeypatch
):
    """A task read and written: every statement on the connection's kept cursor."""
    task = TaskFactory.create(owner=user)
    url = f"/api/v1/tasks/{task.pk}/"
    assert auth_client.get(url).status_code == 200
    made: list[Any] = []
    cursor = connection.connection.cursor

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(cursor(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(connection.connection, "cursor", counted)
    for _ in range(2):
        response = auth_client.get(url)
        assert response.status_code == 200
        assert response.json()["id"] == str(task.pk)
    response = auth_client.patch(url, {"status": "completed"}, format="json")
    assert response.status_code == 200, response.content
    assert (
        auth_client.get("/api/v1/tasks/").json()["results"][0]["status"] == "completed"
    )
    assert made == []
