"""Login throttles hold across server processes (Redis) and lock out only their key.

Two gunicorn servers with two workers each share one Redis, so consecutive attempts
land in different processes. The servers trust one proxy (API_NUM_PROXIES=1): the
test plays that proxy and says which client address each attempt comes from with
X-Forwarded-For, as a load balancer in front would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.support.live import gunicorn, manage, request, server_env

REDIS_URL = "redis://127.0.0.1:6379/9"
PASSWORD = "Quite-long-pass-42"
PROBLEM = "application/problem+json"
EMAIL_LIMIT = 3
IP_LIMIT = 6


@dataclass(frozen=True)
class Servers:
    urls: tuple[str, ...]

    def login(self, attempt: int, email: str, password: str, client: str) -> Any:
        """One login attempt from ``client``, on the servers in turn."""
        url = self.urls[attempt % len(self.urls)]
        code, headers, body = request(
            "POST",
            f"{url}/api/v1/auth/token/",
            {"email": email, "password": password},
            headers={"X-Forwarded-For": client},
        )
        if code == 429:
            assert headers["Content-Type"] == PROBLEM
            assert body["type"] == "urn:taskapi:problem:throttled"
            assert int(headers["Retry-After"]) > 0
        return code

    def register(self, email: str) -> None:
        code, _, body = request(
            "POST",
            f"{self.urls[0]}/api/v1/auth/register/",
            {"email": email, "password": PASSWORD},
        )
        assert code == 201, body


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 (.ci/run starts it)")
    database = tmp_path_factory.mktemp("throttle") / "live.sqlite3"
    env = server_env(
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL=REDIS_URL,
        DJANGO_CACHE_KEY_PREFIX=f"throttle-test-{uuid.uuid4().hex}",
        API_THROTTLE_LOGIN_EMAIL=f"{EMAIL_LIMIT}/min",
        API_THROTTLE_LOGIN_IP=f"{IP_LIMIT}/min",
        API_NUM_PROXIES="1",
    )
    manage(env, "migrate", "--no-input")
    with gunicorn(env, workers=2) as first, gunicorn(env, workers=2) as second:
        yield Servers(urls=(first, second))


def test_wrong_passwords_for_one_account_are_counted_across_processes_and_ips(
    servers,
):
    servers.register("victim@example.com")
    servers.register("bystander@example.com")

    codes = [
        servers.login(i, "victim@example.com", "wrong-password", f"198.51.100.{i}")
        for i in range(EMAIL_LIMIT + 2)
    ]

    # Counted per process, or per client address, nothing would have tripped yet.
    assert codes == [401] * EMAIL_LIMIT + [429, 429]
    # The right password does not help the victim's email now, from any address...
    assert servers.login(0, "victim@example.com", PASSWORD, "203.0.113.7") == 429
    # ...while another account logs in from the attacker's last address, on both
    # servers: the email throttle locks out the email, not the client.
    attacker = f"198.51.100.{EMAIL_LIMIT + 1}"
    assert servers.login(0, "bystander@example.com", PASSWORD, attacker) == 200
    assert servers.login(1, "bystander@example.com", PASSWORD, attacker) == 200


def test_one_address_trying_many_accounts_is_throttled_across_processes(servers):
    """The per-address limit stops credential stuffing over many emails. It is set
    well above what one person needs, because it also covers everybody behind that
    address (a NAT): they wait with the attacker, everybody else does not."""
    servers.register("regular@example.com")
    stuffer = "192.0.2.66"

    codes = [
        servers.login(i, f"guess{i}@example.com", "wrong-password", stuffer)
        for i in range(IP_LIMIT + 1)
    ]

    assert codes == [401] * IP_LIMIT + [429]
    assert servers.login(0, "regular@example.com", PASSWORD, stuffer) == 429
    assert servers.login(1, "regular@example.com", PASSWORD, "192.0.2.67") == 200
