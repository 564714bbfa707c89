"""The demo_user command: a local staff login, never with production settings."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.demo_user import DEMO_EMAIL
from accounts.models import User
from tests.factories import UserFactory
from tests.support.probe import run_python

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded_database(monkeypatch):
    """As under `make run`: no DATABASE_URL (the suite's own may name PostgreSQL)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _run(*args: str) -> str:
    out = StringIO()
    call_command("demo_user", *args, stdout=out)
    return out.getvalue()


def _password(output: str) -> str:
    match = re.search(r"password: (\S+)", output)
    assert match, output
    return match[1]


def test_creates_a_staff_login_with_the_printed_password_and_the_urls_to_visit():
    output = _run("--url", "http://127.0.0.1:8123/")

    user = User.objects.get(email=DEMO_EMAIL)
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert user.check_password(_password(output))
    for line in (
        "API root:               http://127.0.0.1:8123/api/v1/",
        "API docs (Swagger UI):  http://127.0.0.1:8123/api/v1/docs/",
        "API docs (Redoc):       http://127.0.0.1:8123/api/v1/redoc/",
        "Admin:                  http://127.0.0.1:8123/admin/",
        "POST http://127.0.0.1:8123/api/v1/auth/token/",
    ):
        assert line in output


def test_a_second_run_keeps_the_password_and_says_how_to_reset_it():
    password = _password(_run())
    output = _run()
    assert "password:" not in output
    assert "make demo-password" in output
    assert User.objects.get(email=DEMO_EMAIL).check_password(password)


def test_reset_sets_and_prints_a_new_password():
    old = _password(_run())
    new = _password(_run("--reset"))
    assert new != old
    assert User.objects.get(email=DEMO_EMAIL).check_password(new)


def test_an_older_demo_account_without_staff_rights_is_promoted():
    UserFactory.create(email=DEMO_EMAIL, is_staff=False, is_superuser=False)
    _run()
    user = User.objects.get(email=DEMO_EMAIL)
    assert (user.is_staff, user.is_superuser) == (True, True)


def test_refused_when_database_url_is_set(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.example.com/taskapi")
    with pytest.raises(CommandError, match="DATABASE_URL is set"):
        _run()
    assert not User.objects.filter(email=DEMO_EMAIL).exists()


def test_refused_with_production_settings():
    """A real process with production settings; it stops before any query."""
    code = (
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'demo_user'])"
    )
    result = run_python(
        code,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "x" * 50,
            "JWT_SIGNING_KEY": "j" * 40,
        },
        drop=("DJANGO_", "JWT_", "REDIS_URL", "DATABASE_", "DIRECT_DATABASE_URL"),
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "the settings are config.settings.production" in result.stderr
    assert "password" not in result.stdout
