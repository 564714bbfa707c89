"""What can happen to an account between a token's issue and its next request.

Each change must make the very next request with that token a 401 with the given
problem code, whatever path the request takes (tests/accounts/test_authentication.py,
tests/api/test_scoping_user_check.py).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from accounts import services
from accounts.models import User

NEW_PASSWORD = "An0ther-long-passphrase"


def deactivate(user: User) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def deactivate_by_update(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def delete(user: User) -> None:
    user.delete()


def change_password(user: User) -> None:
    services.user_change_password(user=user, new_password=NEW_PASSWORD)


def change_password_by_update(user: User) -> None:
    User.objects.filter(pk=user.pk).update(password=make_password(NEW_PASSWORD))


# (change, the problem code of the 401 that follows it)
CHANGES = [
    pytest.param(deactivate, "user-inactive", id="deactivated"),
    pytest.param(deactivate_by_update, "user-inactive", id="deactivated-by-update"),
    pytest.param(delete, "user-not-found", id="deleted"),
    pytest.param(change_password, "password-changed", id="password-service"),
    pytest.param(
        change_password_by_update, "password-changed", id="password-by-update"
    ),
]
