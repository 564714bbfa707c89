"""Database settings from the environment: timeouts, the pooler switch, direct URLs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tests.config.probe import ROOT, run_python

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
