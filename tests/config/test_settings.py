"""Settings come from the environment and fail fast when a secret is missing."""

from __future__ import annotations

import gzip
import re
import subprocess
from urllib.request import Request, urlopen

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int, env_list, env_str
from tests.support.live import gunicorn, manage, server_env
from tests.support.probe import run_python


def _load_settings(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = f"import importlib; m = importlib.import_module('{module}'); print(m.DEBUG)"
    return run_python(
        code, env=env, drop=("DJANGO_", "JWT_", "REDIS_URL", "DATABASE_URL")
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _load_settings("config.settings.production", JWT_SIGNING_KEY="j" * 40)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off" in result.stderr


def test_production_settings_start_with_both_keys():
    result = _load_settings(
        "config.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        JWT_SIGNING_KEY="j" * 40,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("jwt_key", [None, "too-short-key"])
def test_production_settings_refuse_a_missing_or_short_jwt_key(jwt_key):
    env = {"DJANGO_SECRET_KEY": "x" * 50}
    if jwt_key is not None:
        env["JWT_SIGNING_KEY"] = jwt_key
    result = _load_settings("config.settings.production", **env)
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY is required (at least 32 bytes)" in result.stderr


def test_local_settings_need_no_environment():
    result = _load_settings("config.settings.local")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": ""}], ids=["unset", "empty"])
def test_without_database_url_the_project_uses_an_embedded_sqlite_file(env):
    code = (
        "from config.settings import local as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'])"
    )
    out = run_python(code, env=env, drop=("DATABASE_URL",), check=True).stdout
    engine, name = out.split()
    assert engine == "django.db.backends.sqlite3"
    assert name.endswith("db.sqlite3")


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("off", False), ("", False)]
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG") is expected


def test_env_readers_reject_garbage_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")
    with pytest.raises(ImproperlyConfigured, match="X_NUM"):
        env_int("X_NUM", 1)


def test_env_list_and_required_strings(monkeypatch):
    monkeypatch.setenv("X_HOSTS", " a.example , ,b.example")
    monkeypatch.delenv("X_MISSING", raising=False)
    assert env_list("X_HOSTS") == ["a.example", "b.example"]
    with pytest.raises(ImproperlyConfigured, match="X_MISSING is required"):
        env_str("X_MISSING")


_KEYS = {"DJANGO_SECRET_KEY": "x" * 50, "JWT_SIGNING_KEY": "j" * 40}


@pytest.mark.parametrize(
    "url",
    [
        "postgres://app:pw@ep-cool-1-pooler.eu-central-1.aws.neon.tech/taskapi",
        "postgres://app:pw@db.internal:5432/taskapi?sslmode=prefer",
        "postgres://app:pw@10.0.0.7/taskapi?sslmode=disable",
    ],
)
def test_production_refuses_a_remote_database_without_tls(url):
    result = _load_settings("config.settings.production", DATABASE_URL=url, **_KEYS)
    assert result.returncode != 0
    assert "must ask for TLS" in result.stderr
    assert "pw@" not in result.stderr, "the password must not reach the error"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://app:pw@ep-cool-1-pooler.eu-central-1.aws.neon.tech/taskapi"
        "?sslmode=verify-full&sslrootcert=system",
        "postgres://app:pw@db.internal/taskapi?sslmode=require",
        "postgres://postgres@127.0.0.1:5432/taskapi",
        "postgres://postgres@localhost/taskapi?sslmode=disable",
    ],
)
def test_production_accepts_tls_or_a_local_database(url):
    result = _load_settings("config.settings.production", DATABASE_URL=url, **_KEYS)
    assert result.returncode == 0, result.stderr


def test_check_deploy_reports_nothing_for_a_realistic_production_environment():
    """``manage.py check --deploy`` passes at warning level with production settings."""
    code = (
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', "
        "'--fail-level', 'WARNING'])"
    )
    result = run_python(
        code,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "Vq3-" + "k9T_pX2mL7wQ" * 5,
            "JWT_SIGNING_KEY": "Zr8_" + "bN4sY6cH1dF0" * 4,
            "DJANGO_ALLOWED_HOSTS": "api.example.com",
            "DATABASE_URL": "postgres://app:pw@ep-cool-1-pooler.eu-central-1"
            ".aws.neon.tech/taskapi?sslmode=verify-full&sslrootcert=system",
            "DATABASE_POOLER": "transaction",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
        drop=("DJANGO_", "JWT_", "REDIS_URL", "DATABASE_", "DIRECT_DATABASE_URL"),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_production_serves_the_admins_collected_static_files_through_whitenoise(
    tmp_path,
):
    """What ``make serve`` does: collectstatic, then gunicorn with production settings.

    The admin's pages link to the hashed names of the manifest storage, and whitenoise
    serves those files itself, compressed and cacheable for good.
    """
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'static.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
    )
    manage(env, "collectstatic", "--no-input")
    assert (tmp_path / "static" / "staticfiles.json").is_file()

    with gunicorn(env) as base:
        with urlopen(f"{base}/admin/login/", timeout=10) as page:  # noqa: S310
            html = page.read().decode()
        stylesheet = re.search(
            r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', html
        )
        assert stylesheet, html
        request = Request(  # noqa: S310
            base + stylesheet[1], headers={"Accept-Encoding": "gzip"}
        )
        with urlopen(request, timeout=10) as css:  # noqa: S310
            status, headers, body = css.status, css.headers, css.read()

    assert status == 200
    assert headers.get_content_type() == "text/css"
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert b"--body-fg" in gzip.decompress(body)
