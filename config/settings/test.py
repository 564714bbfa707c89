"""The test suite: SQLite in memory unless DATABASE_URL names another database."""

import os

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "test-only-secret-key-not-used-anywhere-else"
)

from .base import *  # noqa: F403

# Argon2 is deliberately slow; tests that are not about hashing use a fast hasher.
# tests/accounts/test_models.py checks that the real setting puts Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STORAGES["staticfiles"] = {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
