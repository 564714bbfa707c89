"""Throttles: per user for the API; per client IP and per email for the account
endpoints that need no login."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.throttling import UserRateThrottle as DRFUserRateThrottle

# DRF's sliding window (at most N requests in any window), kept as a sorted set of
# request times in microseconds, server clock, checked and recorded atomically.
# Returns 0 when the request is allowed, else the microseconds until it would be.
_SLIDING_WINDOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
logger = logging.getLogger(__name__)

_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


class _SlidingWindow:
    """The script at one Redis URL: EVALSHA on a connection of this process and
    thread, and SCRIPT LOAD when the server does not know the script (a restart, a
    SCRIPT FLUSH).

    The connection is redis-py's own (its URL options, TLS and hiredis parser), used
    directly: the client's ``execute_command`` takes a connection from the pool and
    gives it back through argument-checking and instrumentation wrappers that cost
    more CPU than the round trip itself (docs/performance.md). A connection that
    broke (Redis restarted, the network dropped it) is opened again once; if that
    fails too, or Redis does not answer within ``REDIS_TIMEOUT`` seconds, the error
    is the request's 503 (``api.problems.ThrottleUnavailable``).
    """

    def __init__(self, location: str) -> None:
        self.client = redis.Redis.from_url(
            location,
            socket_timeout=settings.REDIS_TIMEOUT,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
        )
        self.sha = hashlib.sha1(_SLIDING_WINDOW.encode()).hexdigest()  # noqa: S324
        self._local = threading.local()

    def _connection(self) -> Any:
        """This thread's connection, made anew in a forked worker."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.connection = self.client.connection_pool.make_connection()
            local.pid = os.getpid()
            local.unread = None
        return local.connection

    def send(self, key: str, window_us: int, limit: int, member: str) -> _Answer:
        """Send the script now; the answer is read when it is called for.

        Meanwhile the caller does other work and the answer, one round trip away,
        is usually there when it asks: no wait. A connection carries one question
        at a time: an answer still unread (its request ended first) is read here.
        """
        command = ("EVALSHA", self.sha, 1, key, window_us, limit, member)
        connection = self._connection()
        local = self._local
        if local.unread is not None:
            with contextlib.suppress(Exception):
                local.unread.read()
        try:
            connection.send_command(*command)
        except redis.exceptions.ConnectionError:
            # Broken since its last use: redis-py has closed it; this opens it. A
            # second failure is api.problems' 503, as is a timeout.
            connection.send_command(*command)
        answer = local.unread = _Answer(self, connection, command)
        return answer

    def forget(self, key: str, member: str) -> None:
        """Take a request back out of its window (its user was refused after all)."""
        try:
            self.client.zrem(key, member)
        except redis.exceptions.RedisError as exc:
            # The entry leaves the window with time: the user's budget is short by
            # one request until then, which is all this costs.
            logger.warning(
                "throttle: could not forget a request: %s", type(exc).__name__
            )

    def _read(self, connection: Any, command: tuple[Any, ...]) -> Any:
        """The answer to ``command``, sent on ``connection``: asked again on a
        connection that broke meanwhile, and after loading the script when the
        server did not know it."""
        try:
            return self._reply(connection, command)
        except redis.exceptions.ConnectionError:
            connection.send_command(*command)
            return self._reply(connection, command)

    def _reply(self, connection: Any, command: tuple[Any, ...]) -> Any:
        try:
            return connection.read_response()
        except redis.exceptions.NoScriptError:
            connection.send_command("SCRIPT", "LOAD", _SLIDING_WINDOW)
            connection.read_response()
            connection.send_command(*command)
            return connection.read_response()


class _Answer:
    """The answer to one script sent (``_SlidingWindow.send``), read once."""

    __slots__ = ("_command", "_connection", "_error", "_value", "_window")

    def __init__(
        self, window: _SlidingWindow, connection: Any, command: tuple[Any, ...]
    ) -> None:
        self._window = window
        self._connection = connection
        self._command = command
        self._value: Any = _UNREAD
        self._error: Exception | None = None

    def read(self) -> Any:
        """The script's reply, waiting for it if it has not come yet."""
        if self._value is _UNREAD and self._error is None:
            local = self._window._local
            try:
                self._value = self._window._read(self._connection, self._command)
            except Exception as exc:
                self._error = exc
            finally:
                if local.unread is self:
                    local.unread = None
        if self._error is not None:
            raise self._error
        return self._value


_UNREAD = object()
_windows: dict[str, _SlidingWindow] = {}
_windows_lock = threading.Lock()


def _sliding_window(location: str) -> _SlidingWindow:
    """The script for the Redis at ``location``, made once per process."""
    window = _windows.get(location)
    if window is None:
        with _windows_lock:
            window = _windows.get(location)
            if window is None:
                window = _windows[location] = _SlidingWindow(location)
    return window


class UserRateThrottle(DRFUserRateThrottle):
    """DRF's per-user throttle, in one atomic round trip when the cache is Redis.

    DRF reads the request history from the cache, trims it and writes it back: two
    round trips, two throwaway Redis clients, a pickled list, and lost updates when
    one user's requests race. Against Redis this runs the same sliding window as a
    script instead (the same limit, the same ``Retry-After``), under one key per user
    shared by every process. With any other cache it is DRF's throttle unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._limit = self.parse_rate(self.rate)
        self._wait: float | None = None

    def _redis(self) -> tuple[str, str] | None:
        cache = settings.CACHES["default"]
        if cache["BACKEND"] != _REDIS_CACHE:
            return None
        return str(cache["LOCATION"]), str(cache.get("KEY_PREFIX", ""))

    def allow_request(self, request: Request, view: Any) -> bool:
        answer = self.ask(request, view)
        if answer is None:
            return super().allow_request(request, view)
        return answer()

    def ask(self, request: Request, view: Any) -> Callable[[], bool] | None:
        """``allow_request()`` in two halves, against Redis: the script is sent
        now, and the callable returned reads its answer when called (once),
        waiting only if it has not come yet. Meanwhile a view can do the work
        that needs no database (``api.throttling``). None without Redis, or with
        nothing to count: DRF's throttle answers at once (``allow_request()``).
        """
        target = self._redis()
        if target is None:
            return None
        requests, duration = self._limit
        key = self.get_cache_key(request, view)
        if requests is None or duration is None or key is None:
            return None  # nothing to count: DRF's allow_request() says yes
        location, prefix = target
        script = _sliding_window(location)
        redis_key = f"{prefix}:sliding:{key}"
        # The request's member of the window: random, so that it can be taken out.
        member = secrets.token_hex(8)
        answer = script.send(redis_key, duration * 1_000_000, requests, member)

        def allowed() -> bool:
            wait = int(answer.read())
            if wait:
                self._wait = wait / 1_000_000
                return False
            # A user the database has not vouched for yet (a folded check, see
            # accounts.authentication.PendingUser) and then refuses never counts:
            # a revoked token may not spend its user's budget.
            on_refusal = getattr(request.user, "on_refusal", None)
            if on_refusal is not None:
                on_refusal(lambda: script.forget(redis_key, member))
            return True

        return allowed

    def wait(self) -> float | None:
        if self._redis() is None:
            return super().wait()
        return self._wait


class _ScopedIPThrottle(SimpleRateThrottle):
    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


class _ScopedEmailThrottle(SimpleRateThrottle):
    """Counts attempts per email address, whatever letter case or client IP.

    The cache key holds a digest of the address, not the address itself.
    """

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        email = data.get("email")
        if not isinstance(email, str) or not email.strip():
            return None
        # surrogatepass: JSON may carry a lone surrogate ("\udc80"), which strict
        # UTF-8 cannot encode; the serializer refuses it later, with a 400.
        normalized = email.strip().lower().encode(errors="surrogatepass")
        digest = hashlib.sha256(normalized).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class RegisterIPThrottle(_ScopedIPThrottle):
    scope = "register_ip"


class RegisterEmailThrottle(_ScopedEmailThrottle):
    scope = "register_email"


class LoginIPThrottle(_ScopedIPThrottle):
    scope = "login_ip"


class LoginEmailThrottle(_ScopedEmailThrottle):
    scope = "login_email"
