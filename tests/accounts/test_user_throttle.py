"""accounts.throttling.UserRateThrottle: DRF's per-user limit, one Redis round trip.

Against the real Redis on 127.0.0.1:6379 (database 11, a key prefix per test), as
production runs it; with any other cache the class is DRF's throttle, which the
rest of the suite (an in-memory cache) exercises.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from django.test import override_settings
from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services
from accounts.throttling import UserRateThrottle
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/11"
PROBLEM = "application/problem+json"
LIST = reverse("todos:task-list")


@pytest.fixture
def rate(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    def set_rate(value: str) -> None:
        table = {**api_settings.DEFAULT_THROTTLE_RATES, "user": value}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", table)

    return set_rate


@pytest.fixture
def on_redis() -> Iterator[None]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 (.ci/run starts it)")
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"user-throttle-test-{uuid.uuid4().hex}",
    }
    with override_settings(CACHES={"default": cache}):
        yield


def _access(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def _request(user) -> Request:
    raw = APIRequestFactory().get(LIST)
    force_authenticate(raw, user=user)
    request = Request(raw)
    request.user = user
    return request


def _assert_throttled(response, most: int) -> None:
    assert response.status_code == status.HTTP_429_TOO_MANY_REQUESTS
    assert response["Content-Type"] == PROBLEM
    assert 0 < int(response["Retry-After"]) <= most


def test_the_limit_holds_per_user_with_retry_after(
    on_redis, rate, auth_client, other_client
):
    rate("3/min")
    codes = [auth_client.get(LIST).status_code for _ in range(3)]
    assert codes == [status.HTTP_200_OK] * 3
    _assert_throttled(auth_client.get(LIST), 60)
    assert other_client.get(LIST).status_code == status.HTTP_200_OK


def test_racing_requests_of_one_user_never_exceed_the_limit(on_redis, rate):
    """DRF's read-modify-write loses updates here; the script cannot."""
    rate("5/min")
    user = UserFactory()
    allowed: list[bool] = []
    start = threading.Barrier(20)

    def one() -> None:
        throttle = UserRateThrottle()
        request = _request(user)
        start.wait()
        allowed.append(throttle.allow_request(request, None))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5
    assert len(allowed) == 20


def test_the_window_slides_and_wait_says_when(on_redis, rate):
    rate("2/s")
    user = UserFactory()
    assert UserRateThrottle().allow_request(_request(user), None)
    assert UserRateThrottle().allow_request(_request(user), None)
    refused = UserRateThrottle()
    assert not refused.allow_request(_request(user), None)
    wait = refused.wait()
    assert wait is not None
    assert 0 < wait <= 1
    time.sleep(wait + 0.05)
    assert UserRateThrottle().allow_request(_request(user), None)


@pytest.mark.parametrize("path", ["list", "detail"])
def test_a_revoked_token_spends_none_of_its_users_budget(on_redis, rate, path):
    """On PostgreSQL a list or detail checks the user in its own read, after the
    throttle has counted the request (accounts.authentication.PendingUser); a
    token that read refuses must not have counted, or a stolen token could keep
    its owner at 429 after a password change."""
    rate("3/min")
    user = UserFactory.create()
    task = TaskFactory.create(owner=user)
    url = LIST if path == "list" else reverse("todos:task-detail", args=[task.pk])
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    assert revoked.get(url).status_code == status.HTTP_200_OK
    services.user_change_password(user=user, new_password="An0ther-long-passphrase")
    for _ in range(5):
        assert revoked.get(url).status_code == status.HTTP_401_UNAUTHORIZED
    user.refresh_from_db()
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    codes = [fresh.get(url).status_code for _ in range(2)]
    assert codes == [status.HTTP_200_OK] * 2
    _assert_throttled(fresh.get(url), 60)


def test_without_redis_it_is_drfs_throttle(rate, auth_client):
    rate("2/min")
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    _assert_throttled(auth_client.get(LIST), 60)


def test_redis_replies_are_parsed_by_hiredis(on_redis):
    """The throttle's round trip runs on every request: redis-py parses its reply
    in C when hiredis is installed (requirements/base.txt pins it)."""
    from redis.utils import HIREDIS_AVAILABLE

    from accounts.throttling import _sliding_window

    assert HIREDIS_AVAILABLE
    client = _sliding_window(REDIS_URL).client
    connection = client.connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
    finally:
        client.connection_pool.release(connection)


def test_the_script_is_loaded_again_when_redis_forgot_it(on_redis, rate):
    """After a restart or a SCRIPT FLUSH the server answers NOSCRIPT: the throttle
    loads the script and counts on, in the same window."""
    rate("2/min")
    user = UserFactory()
    assert UserRateThrottle().allow_request(_request(user), None)

    redis.Redis.from_url(REDIS_URL).script_flush()

    assert UserRateThrottle().allow_request(_request(user), None)
    refused = UserRateThrottle()
    assert not refused.allow_request(_request(user), None)
    assert refused.wait() is not None
