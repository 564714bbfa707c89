"""Better Auth settings that cannot work refuse to start (config/settings/base.py)."""

from __future__ import annotations

import pytest

from tests.config.test_settings import _KEYS, _load_settings

SECRET = "front-end-better-auth-secret-" + "z" * 20


def _load(**env: str):
    return _load_settings("config.settings.production", **_KEYS, **env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BETTER_AUTH_ALGORITHMS": "EdDSA,none"}, "BETTER_AUTH_ALGORITHMS may only"),
        ({"BETTER_AUTH_ALGORITHMS": "HS256"}, "needs BETTER_AUTH_SECRET"),
        (
            {"BETTER_AUTH_ALGORITHMS": "HS256", "BETTER_AUTH_SECRET": "short"},
            "needs BETTER_AUTH_SECRET",
        ),
        (
            {
                "BETTER_AUTH_ALGORITHMS": "HS256",
                "BETTER_AUTH_SECRET": _KEYS["JWT_SIGNING_KEY"],
            },
            "never the same as JWT_SIGNING_KEY",
        ),
        ({"BETTER_AUTH_ENABLED": "true"}, "needs a key source"),
    ],
)
def test_settings_that_cannot_work_refuse_to_start(env, message):
    result = _load(BETTER_AUTH_URL="", **env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"BETTER_AUTH_ENABLED": "true", "BETTER_AUTH_URL": "https://app.example.com"},
        {
            "BETTER_AUTH_ENABLED": "true",
            "BETTER_AUTH_ALGORITHMS": "HS256",
            "BETTER_AUTH_SECRET": SECRET,
        },
    ],
)
def test_working_settings_start(env):
    result = _load(**env)
    assert result.returncode == 0, result.stderr
