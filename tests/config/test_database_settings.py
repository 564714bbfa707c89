"""Database settings from the environment: timeouts, the pooler switch, direct URLs."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from psycopg import pq, sql

from tests.support.live import server_env
from tests.support.probe import ROOT, run_python

PG_URL = "postgres://app@db.example.com:5432/app?sslmode=require"


def _database(**env: str) -> dict:
    code = (
        "import json; from config.settings import test as s; "
        "print(json.dumps(s.DATABASES['default'], default=str))"
    )
    result = run_python(code, env=env, drop=("DATABASE", "DIRECT_DATABASE"), check=True)
    return json.loads(result.stdout)


def test_postgres_connections_time_out_after_ten_seconds_by_default():
    db = _database(DATABASE_URL=PG_URL)
    assert db["OPTIONS"]["connect_timeout"] == 10
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["CONN_HEALTH_CHECKS"] is True
    assert db.get("DISABLE_SERVER_SIDE_CURSORS", False) is False


def test_the_transaction_pooler_switch_disables_session_features():
    db = _database(DATABASE_URL=PG_URL, DATABASE_POOLER="transaction")
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert db["OPTIONS"]["prepare_threshold"] is None


def test_the_transaction_pooler_switch_keeps_client_side_binding():
    db = _database(DATABASE_URL=PG_URL, DATABASE_POOLER="transaction")
    assert "server_side_binding" not in db["OPTIONS"]


def test_a_direct_connection_prepares_its_frequent_statements():
    db = _database(DATABASE_URL=PG_URL)
    assert db["OPTIONS"]["server_side_binding"] is True
    assert db["OPTIONS"]["prepare_threshold"] == 5


def test_prepared_statements_can_be_turned_off():
    db = _database(DATABASE_URL=PG_URL, DATABASE_PREPARED_STATEMENTS="false")
    assert "server_side_binding" not in db["OPTIONS"]
    assert "prepare_threshold" not in db["OPTIONS"]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"
)
@pytest.mark.django_db
def test_a_statement_run_often_is_prepared_on_a_direct_connection():
    """Parsed and planned once per connection, from the fifth run on."""
    from accounts.models import User

    options = connection.settings_dict["OPTIONS"]
    if options.get("prepare_threshold") is None:
        pytest.skip(
            "a requirement of direct connections; the pooled CI run turns "
            "prepared statements off (DATABASE_POOLER=transaction)"
        )
    for _ in range(6):
        list(User.objects.filter(email="nobody@example.com"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "accounts_user"%'],
        )
        (prepared,) = cursor.fetchone()
    assert prepared >= 1


def test_schema_commands_get_a_lock_timeout():
    db = _database(DATABASE_URL=PG_URL, DATABASE_SCHEMA_COMMAND="true")
    assert db["OPTIONS"]["options"] == "-c lock_timeout=5s"


def test_migrate_uses_the_direct_url_when_it_is_set(tmp_path):
    direct = tmp_path / "direct.sqlite3"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE", "DIRECT_DATABASE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        # The application URL is unreachable: migrate must not use it.
        DATABASE_URL="postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=1",
        DIRECT_DATABASE_URL=f"sqlite:///{direct}",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with sqlite3.connect(direct) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"todos_task", "accounts_user"} <= tables


@pytest.mark.parametrize("value", ["session", "yes"])
def test_an_unknown_pooler_mode_is_refused(value):
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        _database(DATABASE_URL=PG_URL, DATABASE_POOLER=value)
    assert "DATABASE_POOLER must be empty or 'transaction'" in excinfo.value.stderr


def test_schema_commands_refuse_to_run_through_the_pooler():
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        _database(
            DATABASE_URL=PG_URL,
            DATABASE_POOLER="transaction",
            DATABASE_SCHEMA_COMMAND="true",
        )
    assert "set DIRECT_DATABASE_URL" in excinfo.value.stderr


@pytest.mark.django_db(transaction=True)
def test_queryset_iterator_works_outside_a_transaction():
    """Server-side cursors die between transactions behind a transaction pooler.

    In the pooled CI run this fails unless DATABASE_POOLER=transaction turns them off.
    """
    from django.contrib.auth.models import Permission

    ids = [p.pk for p in Permission.objects.order_by("pk").iterator(chunk_size=1)]
    assert len(ids) == Permission.objects.count() > 3


# --- manage.py migrate against a real PostgreSQL, the way operators run it ----------

# The application's URL in these runs: unreachable, and named as a pooler. A migrate
# that used it, or kept the pooler switch, would fail before touching any table.
UNREACHABLE_POOLER_URL = "postgres://nobody@127.0.0.1:1/pooler?connect_timeout=1"


def _server_url(dbname: str) -> str:
    """The suite's PostgreSQL server (its direct URL if there is one), on ``dbname``."""
    url = os.environ.get("DIRECT_DATABASE_URL") or os.environ["DATABASE_URL"]
    return urlsplit(url)._replace(path=f"/{dbname}").geturl()


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A new, empty database on the suite's server; its URL. Dropped afterwards."""
    name = f"scratch_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _server_url(name)
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def _migrate(direct_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py migrate`` with production settings, a pooled URL and a direct one."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--no-input", *args],
        cwd=ROOT,
        env=server_env(
            DATABASE_URL=UNREACHABLE_POOLER_URL,
            DATABASE_POOLER="transaction",
            DIRECT_DATABASE_URL=direct_url,
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )


def _applied(url: str, app: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name FROM django_migrations WHERE app = %s", [app]
        ).fetchall()
    return {name for (name,) in rows}


def _migrate_while_the_table_is_locked(
    url: str, **env: str
) -> tuple[subprocess.CompletedProcess, float]:
    """Migrate todos to the end while another session holds todos_task exclusively.

    The last todos migration indexes todos_task, so it must wait for the lock. The
    subprocess is bounded; if it were still waiting, ``subprocess.run`` kills it
    before the lock is released, so it cannot go on to apply anything.
    """
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE todos_task IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = _migrate(url, "todos", **env)
        elapsed = time.monotonic() - started
        holder.rollback()
    return result, elapsed


@pytest.mark.postgres(reason="the scratch database lives on the suite's PostgreSQL")
def test_migrate_runs_on_the_direct_url_without_the_pooler_switch(scratch_database):
    result = _migrate(scratch_database)
    assert result.returncode == 0, result.stderr
    assert "0003_task_ordering_and_search_indexes" in _applied(
        scratch_database, "todos"
    )


@pytest.mark.postgres(reason="lock_timeout and table locks are PostgreSQL's")
@pytest.mark.parametrize(
    ("env", "at_least", "below"),
    [({}, 5, 15), ({"DATABASE_MIGRATION_LOCK_TIMEOUT": "1s"}, 1, 4)],
    ids=["default 5s", "overridden 1s"],
)
def test_migrate_gives_up_on_a_locked_table_after_its_lock_timeout(
    scratch_database, env, at_least, below
):
    before = _migrate(scratch_database, "todos", "0002")
    assert before.returncode == 0, before.stderr
    # The same command with nothing to apply: what starting Django and reading the
    # migration state cost on this machine just now, which the wait is measured from.
    started = time.monotonic()
    assert _migrate(scratch_database, "todos", "0002", **env).returncode == 0
    startup = time.monotonic() - started

    result, elapsed = _migrate_while_the_table_is_locked(scratch_database, **env)

    assert result.returncode != 0
    assert "canceling statement due to lock timeout" in result.stderr
    # It waited the whole timeout, and gave up at it (1 s is told from the default
    # 5 s whatever the start-up costs).
    assert elapsed >= at_least
    assert elapsed - startup < below, (elapsed, startup)
    applied = _applied(scratch_database, "todos")
    assert "0003_task_ordering_and_search_indexes" not in applied
    # Nothing was left half-done: the same migrate succeeds once the lock is gone.
    after = _migrate(scratch_database, "todos")
    assert after.returncode == 0, after.stderr


# --- behind the transaction pooler, opening a connection sends nothing --------------

# A SET (Django's time zone set_config among them) outlives its transaction behind a
# transaction-mode pooler only because PgBouncer tracks that one parameter; the role
# is configured instead (ALTER ROLE ... SET timezone TO 'UTC', as .ci/tls-postgres.sh
# does), so Django finds the right value and sends nothing.
behind_the_pooler = pytest.mark.skipif(
    getattr(settings, "DATABASE_POOLER", "") != "transaction",
    reason="a requirement of the pooled configuration (DATABASE_POOLER=transaction, "
    "the pooled CI run); a direct connection may set its time zone",
)
ROLE_SETUP = (
    "ALTER ROLE <role> SET timezone TO 'UTC'; "
    "ALTER ROLE <role> SET client_encoding TO 'UTF8'; "
    "ALTER ROLE <role> SET default_transaction_isolation TO 'read committed'"
)


@behind_the_pooler
@pytest.mark.django_db
def test_a_new_connection_starts_in_the_time_zone_and_encoding_django_wants():
    """What the client is told, and what the server's session starts with.

    PgBouncer tells a client the parameters it cached for the pool and SETs them on
    whichever backend it hands out; ``reset_val`` is the backend's own start value,
    so it shows whether the role (not a SET) provides the time zone.
    """
    with psycopg.connect(**connection.get_connection_params()) as raw:
        time_zone = raw.info.parameter_status("TimeZone")
        encoding = raw.info.parameter_status("client_encoding")
        session_defaults = raw.execute(
            "SELECT name, reset_val FROM pg_settings WHERE name IN "
            "('TimeZone', 'default_transaction_isolation') ORDER BY name"
        ).fetchall()
    assert time_zone == connection.timezone_name, ROLE_SETUP
    assert encoding == "UTF8"
    assert session_defaults == [
        ("TimeZone", connection.timezone_name),
        ("default_transaction_isolation", "read committed"),
    ], ROLE_SETUP


def _trace(raw: psycopg.Connection[Any], path: Path) -> None:
    """Log the protocol messages of ``raw`` to ``path`` until ``untrace()`` flushes.

    libpq writes through a stream of its own on a copy of the descriptor, which it
    keeps after ``untrace()``; the copy goes when the test process does.
    """
    with path.open("ab") as sink:
        raw.pgconn.trace(os.dup(sink.fileno()))
    raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)


def _sent(path: Path) -> list[str]:
    """The messages the client sent (``F`` lines of the trace)."""
    return [line for line in path.read_text().splitlines() if line.startswith("F\t")]


@behind_the_pooler
@pytest.mark.django_db
def test_django_sends_no_statement_while_it_opens_a_connection(tmp_path):
    opening, control = tmp_path / "opening.trace", tmp_path / "control.trace"
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    connect = fresh.get_new_connection

    def connect_and_trace(conn_params: dict[str, Any]) -> psycopg.Connection[Any]:
        # From the first message after start-up on: what Django's set-up sends.
        raw = connect(conn_params)
        _trace(raw, opening)
        return raw

    fresh.get_new_connection = connect_and_trace  # type: ignore[method-assign]
    try:
        fresh.ensure_connection()
        fresh.connection.pgconn.untrace()
        # The recorder records: a statement sent on purpose shows up.
        _trace(fresh.connection, control)
        with fresh.cursor() as cursor:
            cursor.execute("SELECT 1")
        fresh.connection.pgconn.untrace()
    finally:
        fresh.close()
    assert _sent(opening) == [], ROLE_SETUP
    assert any("SELECT 1" in message for message in _sent(control))
