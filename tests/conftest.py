"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from tests.factories import UserFactory
from tests.support.caches import REDIS_URL, redis_cache


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``postgres`` say why they cannot run on SQLite, and skip there."""
    if connection.vendor == "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("postgres")
        if marker is not None:
            reason = marker.kwargs.get("reason", "needs PostgreSQL")
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only: {reason}"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, for fixtures that act on failures."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium; a failing test leaves a screenshot in artifacts/browser/."""
    from tests.support import browser as support

    reason = support.missing()
    if reason is not None:
        pytest.fail(reason)
    with support.chromium() as driver:
        yield driver
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            support.save_artifacts(driver, request.node.nodeid)


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Throttle counters never leak from one test into the next."""
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer(user: User) -> str:
    return f"Bearer {RefreshToken.for_user(user).access_token}"


@pytest.fixture
def auth_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


@pytest.fixture
def other_client(other_user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(other_user))
    return client


@pytest.fixture
def better_auth(settings: Any) -> Any:
    """Better Auth on, with keys made for this test given inline (no network).

    Returns the :class:`tests.support.betterauth.Issuer` that signs its tokens.
    """
    from tests.support.betterauth import ISSUER, Issuer

    issuer = Issuer()
    settings.BETTER_AUTH_ENABLED = True
    settings.BETTER_AUTH_URL = ISSUER
    settings.BETTER_AUTH_ISSUER = ISSUER
    settings.BETTER_AUTH_AUDIENCE = [ISSUER]
    settings.BETTER_AUTH_JWKS_URL = ""
    settings.BETTER_AUTH_JWKS = issuer.jwks_json()
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA"]
    settings.BETTER_AUTH_SECRET = ""
    return issuer


@pytest.fixture
def user_rate(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Sets the per-user throttle's rate ("3/min") for this test."""

    def set_rate(value: str) -> None:
        table = {**api_settings.DEFAULT_THROTTLE_RATES, "user": value}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", table)

    return set_rate


@pytest.fixture
def on_redis() -> Iterator[None]:
    """The throttles' cache is the real Redis (REDIS_URL), as in production."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 (.ci/run starts it)")
    with redis_cache(REDIS_URL):
        yield
