"""The test suite: SQLite in memory unless DATABASE_URL names another database."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-anything-else")
os.environ.setdefault("JWT_SIGNING_KEY", "test-only-jwt-signing-key-0123456789abcdef")

from .base import *  # noqa: F403

# Argon2 is deliberately slow; tests that are not about hashing use a fast hasher.
# tests/accounts/test_models.py checks that the real setting puts Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STORAGES["staticfiles"] = {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}

# Each test starts with empty throttle counters (tests/conftest.py clears the cache);
# the cross-process throttling test runs real servers against Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
