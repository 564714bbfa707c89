"""Settings come from the environment and fail fast when a secret is missing."""

from __future__ import annotations

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from tests.config.probe import run_python


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


def test_without_database_url_the_project_uses_an_embedded_sqlite_file():
    code = (
        "from config.settings import local as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'])"
    )
    out = run_python(code, env={}, drop=("DATABASE_URL",), check=True).stdout
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
