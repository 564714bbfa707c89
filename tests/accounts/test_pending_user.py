"""accounts.authentication.PendingUser, on every database: what a folded read gets.

The fold itself is PostgreSQL's (tests/api/test_scoping_user_check.py); the pending
user is plain Python and is held to its contract here, on SQLite too.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import exceptions
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.authentication import JWTAuthentication, PendingUser
from accounts.models import User
from api.principals import PendingPrincipal
from tests.factories import UserFactory
from tests.support import revocations

pytestmark = pytest.mark.django_db


def _pending(user: User) -> PendingUser:
    authenticator = JWTAuthentication()
    raw = str(RefreshToken.for_user(user).access_token).encode()
    token = authenticator.get_validated_token(raw)
    return PendingUser(user.pk, token["hash_password"], token, authenticator)


def test_it_is_the_tokens_user_before_any_query(django_assert_num_queries: Any):
    user = UserFactory.create()
    pending = _pending(user)  # issuing the token records it (the blacklist app)
    with django_assert_num_queries(0):
        assert isinstance(pending, PendingPrincipal)
        assert pending.is_authenticated
        assert not pending.is_anonymous
        assert pending.pk == pending.id == user.pk
        assert pending.digest == get_md5_hash_password(user.password)
        assert not pending.settled
        assert "pending" in repr(pending)


def test_a_vouching_read_settles_it_without_a_query(django_assert_num_queries: Any):
    pending = _pending(UserFactory.create())
    with django_assert_num_queries(0):
        pending.vouch()
        assert pending.settled
        assert "settled" in repr(pending)


def test_verify_reads_the_user_once_and_anything_else_is_the_users(
    django_assert_num_queries: Any,
):
    user = UserFactory.create()
    pending = _pending(user)
    with django_assert_num_queries(1):
        assert pending.verify() == user
        assert pending.verify() == user
        assert pending.email == user.email
    assert pending.settled


@pytest.mark.parametrize(("change", "code"), revocations.CHANGES)
def test_a_refusal_runs_what_was_left_to_undo(change, code):
    user = UserFactory.create()
    pending = _pending(user)
    undone: list[str] = []
    pending.on_refusal(lambda: undone.append("throttle hit"))
    change(user)
    with pytest.raises(exceptions.AuthenticationFailed):
        pending.email  # noqa: B018 (the access is the test)
    assert undone == ["throttle hit"]


def test_an_accepted_user_undoes_nothing():
    pending = _pending(UserFactory.create())
    undone: list[str] = []
    pending.on_refusal(lambda: undone.append("throttle hit"))
    pending.verify()
    pending.on_refusal(lambda: undone.append("too late"))
    assert undone == []


def test_the_contract_alone_promises_nothing():
    bare = PendingPrincipal()
    with pytest.raises(NotImplementedError):
        bare.settled  # noqa: B018
    with pytest.raises(NotImplementedError):
        bare.vouch()
    with pytest.raises(NotImplementedError):
        bare.verify()
