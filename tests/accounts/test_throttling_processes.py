"""Throttle counters are shared by every server process (Redis here)."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.live import gunicorn, manage, request, server_env

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def shared_env(tmp_path):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 (.ci/run starts it)")
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}",
        REDIS_URL=REDIS_URL,
        DJANGO_CACHE_KEY_PREFIX=f"throttle-test-{uuid.uuid4().hex}",
        API_THROTTLE_LOGIN_EMAIL="5/min",
        API_THROTTLE_LOGIN_IP="1000/min",
    )
    manage(env, "migrate", "--no-input")
    return env


def test_login_attempts_are_counted_across_two_server_processes(shared_env):
    with gunicorn(shared_env) as first, gunicorn(shared_env) as second:
        for email in ("victim@example.com", "bystander@example.com"):
            code, _, body = request(
                "POST",
                f"{first}/api/v1/auth/register/",
                {"email": email, "password": "Quite-long-pass-42"},
            )
            assert code == 201, body

        servers = [first, second]
        codes = []
        for attempt in range(7):
            code, headers, body = request(
                "POST",
                f"{servers[attempt % 2]}/api/v1/auth/token/",
                {"email": "victim@example.com", "password": "wrong-password"},
            )
            codes.append(code)
            if code == 429:
                assert int(headers["Retry-After"]) > 0
                assert headers["Content-Type"] == "application/problem+json"
        # 5 per minute in all: per process it would take 10 attempts to trip.
        assert codes == [401, 401, 401, 401, 401, 429, 429]

        code, _, body = request(
            "POST",
            f"{second}/api/v1/auth/token/",
            {"email": "bystander@example.com", "password": "Quite-long-pass-42"},
        )
        assert code == 200
        assert set(body) == {"access", "refresh"}
