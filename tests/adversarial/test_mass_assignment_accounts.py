"""Mass assignment on every account write: extra keys never change what they name.

Hypothesis adds random keys to otherwise valid bodies of registration, the profile
(``PATCH me/``), account deletion, password change, login, token refresh and logout:
account flags (``is_staff``, ``is_superuser``, ``is_active``), ``password``, ids of
this or another user, near-misses of real field names and junk; a table then sends
each named attack key to each write, so that none is left to chance. An unknown key
is a 400 problem naming each unknown key and nothing is written (no account, no
profile change, no token issued or revoked); the profile's read-only ``id`` and
``date_joined`` are accepted and ignored.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as HttpResponse

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "An0ther-long-passphrase"
FORGED_TIME = "2001-02-03T04:05:06Z"
# Placeholders, replaced by real ids once the example's users exist.
OTHER_USER = "<other user's id>"
SELF = "<requester's id>"

ATTACK_KEYS = [
    "id",
    "pk",
    "user",
    "user_id",
    "owner",
    "is_staff",
    "is_superuser",
    "is_active",
    "password",
    "last_login",
    "date_joined",
    "groups",
    "user_permissions",
    "version",
]
NEAR_MISSES = ["Email", "EMAIL", "name ", "isStaff", "is-staff", "__proto__", ""]
VALUES = st.one_of(
    st.sampled_from([OTHER_USER, SELF, FORGED_TIME, "admin@example.com"]),
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "name"]), st.text(max_size=5)),
)


def extras(
    *, writable: set[str], read_only: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Extra keys for a body whose writable fields are ``writable``."""
    keys = st.one_of(
        st.sampled_from(ATTACK_KEYS),
        st.sampled_from(NEAR_MISSES),
        st.text(max_size=20),
    ).filter(lambda key: key not in writable)
    mixed = st.dictionaries(keys, VALUES, min_size=1, max_size=4)
    if not read_only:
        return mixed
    return st.one_of(
        mixed, st.dictionaries(st.sampled_from(read_only), VALUES, min_size=1)
    )


EXAMPLES = settings(max_examples=15, deadline=None)
COLUMNS = [f.attname for f in User._meta.concrete_fields]


@dataclass
class World:
    user: User
    other: User
    client: APIClient
    anonymous: APIClient

    def resolve(self, extra: dict[str, Any]) -> dict[str, Any]:
        """``extra`` with the placeholders replaced by this example's ids."""
        real = {OTHER_USER: str(self.other.pk), SELF: str(self.user.pk)}
        return {
            key: real.get(value, value) if isinstance(value, str) else value
            for key, value in extra.items()
        }


@contextmanager
def world() -> Iterator[World]:
    """Two users, one of them signed in; undone when the example ends."""
    with transaction.atomic():
        cache.clear()
        user, other = UserFactory.create(), UserFactory.create()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        yield World(user, other, client, APIClient())
        transaction.set_rollback(True)


def accounts() -> dict[str, tuple[Any, ...]]:
    """Every account, every column, its groups and permissions, and all tokens."""
    rows = User.objects.order_by("pk").values_list("pk", *COLUMNS)
    state: dict[str, tuple[Any, ...]] = {str(row[0]): row[1:] for row in rows}
    state["(memberships)"] = (
        User.groups.through.objects.count(),
        User.user_permissions.through.objects.count(),
    )
    state["(tokens)"] = (
        OutstandingToken.objects.count(),
        BlacklistedToken.objects.count(),
    )
    return state


def assert_refused_by_name(response: HttpResponse, keys: list[str]) -> None:
    assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == keys
    assert {(e["code"], e["message"]) for e in errors} == {
        ("unknown_field", "Unknown field.")
    }


# --- registration -------------------------------------------------------------------


def register_with(w: World, extra: dict[str, Any]) -> None:
    body = {
        "email": "newcomer@example.com",
        "password": NEW_PASSWORD,
        "name": "Newcomer",
        **w.resolve(extra),
    }
    before = accounts()

    response = w.anonymous.post(reverse("accounts:register"), body, format="json")

    assert_refused_by_name(response, sorted(extra))
    assert accounts() == before


@EXAMPLES
@given(extra=extras(writable={"email", "password", "name"}))
def test_register_refuses_every_extra_key_and_creates_nothing(
    extra: dict[str, Any],
) -> None:
    with world() as w:
        register_with(w, extra)


# --- profile ------------------------------------------------------------------------


def profile_update_with(w: World, extra: dict[str, Any]) -> None:
    body = {"name": "Renamed", **w.resolve(extra)}
    before = accounts()

    response = w.client.patch(reverse("accounts:me"), body, format="json")

    unknown = sorted(key for key in body if key not in {"id", "date_joined", "name"})
    if unknown:
        assert_refused_by_name(response, unknown)
        assert accounts() == before
        return
    assert response.status_code == status.HTTP_200_OK, response.content
    profile = response.json()
    user = User.objects.get(pk=w.user.pk)
    assert user.name == "Renamed"
    assert profile["id"] == str(w.user.pk)
    assert user.date_joined == w.user.date_joined
    assert datetime.datetime.fromisoformat(profile["date_joined"]) == (
        w.user.date_joined
    )
    after = accounts()
    changed = {key for key in before if after.get(key) != before[key]}
    assert changed == {str(w.user.pk)}
    # Only the name moved in the requester's row.
    row = list(after[str(w.user.pk)])
    row[COLUMNS.index("name")] = w.user.name
    assert tuple(row) == before[str(w.user.pk)]


@EXAMPLES
@given(extra=extras(writable={"email", "name"}, read_only=("id", "date_joined")))
def test_profile_update_refuses_unknown_keys_and_ignores_read_only_ones(
    extra: dict[str, Any],
) -> None:
    with world() as w:
        profile_update_with(w, extra)


def account_delete_with(w: World, extra: dict[str, Any]) -> None:
    body = {"password": DEFAULT_PASSWORD, **w.resolve(extra)}
    before = accounts()

    response = w.client.delete(reverse("accounts:me"), body, format="json")

    assert_refused_by_name(response, sorted(extra))
    assert accounts() == before


@EXAMPLES
@given(extra=extras(writable={"password"}))
def test_account_delete_refuses_every_extra_key_and_keeps_the_account(
    extra: dict[str, Any],
) -> None:
    with world() as w:
        account_delete_with(w, extra)


def password_change_with(w: World, extra: dict[str, Any]) -> None:
    body = {
        "current_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD,
        **w.resolve(extra),
    }
    before = accounts()

    response = w.client.post(reverse("accounts:password"), body, format="json")

    assert_refused_by_name(response, sorted(extra))
    assert accounts() == before
    assert User.objects.get(pk=w.user.pk).check_password(DEFAULT_PASSWORD)


@EXAMPLES
@given(extra=extras(writable={"current_password", "new_password"}))
def test_password_change_refuses_every_extra_key_and_keeps_the_password(
    extra: dict[str, Any],
) -> None:
    with world() as w:
        password_change_with(w, extra)


# --- tokens -------------------------------------------------------------------------


def login_with(w: World, extra: dict[str, Any]) -> None:
    body = {"email": w.user.email, "password": DEFAULT_PASSWORD, **w.resolve(extra)}
    before = accounts()

    response = w.anonymous.post(reverse("accounts:token"), body, format="json")

    assert_refused_by_name(response, sorted(extra))
    assert "access" not in response.json()
    assert accounts() == before


@EXAMPLES
@given(extra=extras(writable={"email", "password"}))
def test_login_refuses_every_extra_key_and_issues_no_token(
    extra: dict[str, Any],
) -> None:
    with world() as w:
        login_with(w, extra)


def refresh_token_with(w: World, extra: dict[str, Any], route: str) -> None:
    """Refresh or log out (``route``): refused, and the token still works."""
    refresh = str(RefreshToken.for_user(w.user))
    body = {"refresh": refresh, **w.resolve(extra)}
    before = accounts()

    response = w.client.post(reverse(route), body, format="json")

    assert_refused_by_name(response, sorted(extra))
    assert accounts() == before
    again = w.anonymous.post(
        reverse("accounts:token-refresh"), {"refresh": refresh}, format="json"
    )
    assert again.status_code == status.HTTP_200_OK, again.content


@EXAMPLES
@given(
    extra=extras(writable={"refresh"}),
    route=st.sampled_from(["accounts:token-refresh", "accounts:logout"]),
)
def test_refresh_and_logout_refuse_every_extra_key_and_leave_the_token_usable(
    extra: dict[str, Any], route: str
) -> None:
    with world() as w:
        refresh_token_with(w, extra, route)


# --- every named key on every write -------------------------------------------------

# Each named key with the value an attacker would send it.
NAMED: dict[str, Any] = {
    "id": OTHER_USER,
    "pk": OTHER_USER,
    "user": OTHER_USER,
    "user_id": OTHER_USER,
    "owner": OTHER_USER,
    "owner_id": OTHER_USER,
    "is_staff": True,
    "is_superuser": True,
    "is_active": False,
    "password": "Hijacked-pass-123",
    "last_login": FORGED_TIME,
    "date_joined": FORGED_TIME,
    "created_at": FORGED_TIME,
    "updated_at": FORGED_TIME,
    "completed_at": FORGED_TIME,
    "groups": [1],
    "user_permissions": [1],
    "version": 99,
    "junk": "junk",
}
# Each write, with the fields its body may carry (a named key among them is no
# attack there).
WRITES: dict[str, tuple[Callable[[World, dict[str, Any]], None], set[str]]] = {
    "register": (register_with, {"email", "password", "name"}),
    "profile-update": (profile_update_with, {"email", "name"}),
    "account-delete": (account_delete_with, {"password"}),
    "password-change": (password_change_with, {"current_password", "new_password"}),
    "login": (login_with, {"email", "password"}),
    "refresh": (
        lambda w, extra: refresh_token_with(w, extra, "accounts:token-refresh"),
        {"refresh"},
    ),
    "logout": (
        lambda w, extra: refresh_token_with(w, extra, "accounts:logout"),
        {"refresh"},
    ),
}
CELLS = [
    pytest.param(key, write, id=f"{key}-{write}")
    for key in NAMED
    for write, (_, writable) in WRITES.items()
    if key not in writable
]


def test_the_table_names_every_attack_key():
    assert set(ATTACK_KEYS) <= set(NAMED)


@pytest.mark.parametrize(("key", "write"), CELLS)
def test_every_named_key_on_every_write_is_refused_by_name_or_ignored(
    key: str, write: str
) -> None:
    """Unknown keys: a 400 naming them, nothing written; read-only ones: ignored."""
    check, _ = WRITES[write]
    with world() as w:
        check(w, {key: NAMED[key]})
