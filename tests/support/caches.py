"""The throttles' cache pointed at a Redis of the test's choosing."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import override_settings

# The suite's Redis database: CI starts Redis on 127.0.0.1:6379.
REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_cache(location: str, **options: Any) -> override_settings:
    """Settings whose cache is the Redis at ``location``, under a fresh key prefix,
    with redis-py ``options`` (timeouts, say); use as a context manager."""
    cache: dict[str, Any] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": location,
        "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    if options:
        cache["OPTIONS"] = options
    return override_settings(CACHES={"default": cache})
