"""accounts.throttling.UserRateThrottle: DRF's per-user limit, one Redis round trip.

Against the real Redis on 127.0.0.1:6379 (database 11, a key prefix per test), as
production runs it; with any other cache the class is DRF's throttle, which the
rest of the suite (an in-memory cache) exercises.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings
from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services, throttling
from accounts.throttling import UserRateThrottle, _sliding_window
from tests.factories import TaskFactory, UserFactory
from tests.support.caches import REDIS_URL, redis_cache
from tests.support.live import free_port
from tests.support.problems import assert_problem
from todos.models import Task

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
LIST = reverse("todos:task-list")


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
    on_redis, user_rate, auth_client, other_client
):
    user_rate("3/min")
    codes = [auth_client.get(LIST).status_code for _ in range(3)]
    assert codes == [status.HTTP_200_OK] * 3
    _assert_throttled(auth_client.get(LIST), 60)
    assert other_client.get(LIST).status_code == status.HTTP_200_OK


def test_racing_requests_of_one_user_never_exceed_the_limit(on_redis, user_rate):
    """DRF's read-modify-write loses updates here; the script cannot."""
    user_rate("5/min")
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


def test_the_window_slides_and_wait_says_when(on_redis, user_rate):
    user_rate("2/s")
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
def test_a_revoked_token_spends_none_of_its_users_budget(on_redis, user_rate, path):
    """On PostgreSQL a list or detail checks the user in its own read, after the
    throttle has counted the request (accounts.authentication.PendingUser); a
    token that read refuses must not have counted, or a stolen token could keep
    its owner at 429 after a password change."""
    user_rate("3/min")
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


def test_without_redis_it_is_drfs_throttle(user_rate, auth_client):
    user_rate("2/min")
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    _assert_throttled(auth_client.get(LIST), 60)


def test_redis_replies_are_parsed_by_hiredis(on_redis):
    """The throttle's round trip runs on every request: redis-py parses its reply
    in C when hiredis is installed (requirements/base.txt pins it)."""
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
    connection = _sliding_window(REDIS_URL)._connection()
    assert type(connection._parser).__name__ == "_HiredisParser"


def test_one_connection_per_thread_made_anew_after_a_fork(on_redis, monkeypatch):
    window = _sliding_window(REDIS_URL)
    mine = window._connection()
    assert window._connection() is mine

    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(window._connection()))
    thread.start()
    thread.join()
    assert theirs
    assert theirs[0] is not mine

    # A gunicorn worker forked from a master that had used the throttle must not
    # share the master's socket.
    forked = os.getpid() + 1
    monkeypatch.setattr(throttling.os, "getpid", lambda: forked)
    child = window._connection()
    assert child is not mine
    assert window._connection() is child


def test_a_connection_redis_dropped_is_opened_again(on_redis, user_rate, auth_client):
    """Redis restarted or the network dropped the idle socket: the next request
    reconnects once, is served, and still counts."""
    user_rate("3/min")
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    connection = _sliding_window(REDIS_URL)._connection()
    connection.send_command("CLIENT", "ID")
    client_id = connection.read_response()
    assert redis.Redis.from_url(REDIS_URL).client_kill_filter(_id=client_id) == 1

    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    _assert_throttled(auth_client.get(LIST), 60)


@pytest.fixture
def unavailable_redis() -> Iterator[str]:
    """A Redis URL where something accepts connections and never answers."""
    with socket.socket() as silent, override_settings(REDIS_TIMEOUT=0.2):
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"


@pytest.mark.parametrize("where", ["closed port", "no answer"])
def test_without_its_redis_the_api_answers_503_and_changes_nothing(
    where, unavailable_redis, auth_client, user
):
    location = (
        unavailable_redis
        if where == "no answer"
        else f"redis://127.0.0.1:{free_port()}/0"
    )
    task = TaskFactory.create(owner=user, title="before")
    detail = reverse("todos:task-detail", args=[task.pk])
    with redis_cache(location):
        responses = [
            auth_client.get(LIST),
            auth_client.post(LIST, {"title": "new"}, format="json"),
            auth_client.patch(detail, {"title": "after"}, format="json"),
            auth_client.delete(detail),
        ]
    for response in responses:
        body = assert_problem(
            response, status.HTTP_503_SERVICE_UNAVAILABLE, "throttle-unavailable"
        )
        assert response["Retry-After"] == "5"
        assert "Redis" not in body["detail"]
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == [
        "before"
    ]


def test_a_refusal_redis_cannot_record_is_still_a_401(on_redis, user_rate, monkeypatch):
    """Taking a refused request back out of the window is best effort: if Redis
    fails just then, the answer stays the refusal, not a 500."""
    user_rate("3/min")
    user = UserFactory.create()
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    services.user_change_password(user=user, new_password="An0ther-long-passphrase")

    def broken(*args: object) -> None:
        raise redis.exceptions.ConnectionError("gone")

    monkeypatch.setattr(_sliding_window(REDIS_URL).client, "zrem", broken)
    assert_problem(revoked.get(LIST), status.HTTP_401_UNAUTHORIZED)


def test_the_script_is_loaded_again_when_redis_forgot_it(on_redis, user_rate):
    """After a restart or a SCRIPT FLUSH the server answers NOSCRIPT: the throttle
    loads the script and counts on, in the same window."""
    user_rate("2/min")
    user = UserFactory()
    assert UserRateThrottle().allow_request(_request(user), None)

    redis.Redis.from_url(REDIS_URL).script_flush()

    assert UserRateThrottle().allow_request(_request(user), None)
    refused = UserRateThrottle()
    assert not refused.allow_request(_request(user), None)
    assert refused.wait() is not None
