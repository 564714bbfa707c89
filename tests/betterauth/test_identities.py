"""betterauth.identities: one local user per Better Auth subject, made on first use."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import User
from betterauth.identities import SYNTHETIC_EMAIL_DOMAIN, identity_user
from betterauth.models import ExternalIdentity
from betterauth.verifier import Claims
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _claims(sub: str = "sub-1", **payload: object) -> Claims:
    return Claims(subject=sub, payload={"sub": sub, **payload})


def test_the_first_request_makes_one_user_and_one_identity():
    user = identity_user(claims=_claims(email="ada@example.com", name="Ada"))

    identity = ExternalIdentity.objects.get()
    assert (identity.provider, identity.subject, identity.user) == (
        "better-auth",
        "sub-1",
        user,
    )
    assert (identity.email, identity.name) == ("ada@example.com", "Ada")
    assert user.name == "Ada"
    assert user.email.endswith(f"@{SYNTHETIC_EMAIL_DOMAIN}")
    assert not user.has_usable_password()
    assert user.is_active


def test_repeated_requests_make_nothing_more(django_assert_num_queries):
    first = identity_user(claims=_claims(name="Ada"))
    with django_assert_num_queries(1):
        again = identity_user(claims=_claims(name="Ada"))
    assert again == first
    assert (User.objects.count(), ExternalIdentity.objects.count()) == (1, 1)


def test_a_changed_email_keeps_the_same_user_and_updates_the_profile():
    first = identity_user(claims=_claims(email="old@example.com", name="Ada"))
    again = identity_user(claims=_claims(email="new@example.com", name="Ada L."))

    assert again == first
    identity = ExternalIdentity.objects.get()
    assert (identity.email, identity.name) == ("new@example.com", "Ada L.")
    first.refresh_from_db()
    assert first.name == "Ada L."


def test_claims_a_token_does_not_carry_leave_the_profile_alone():
    identity_user(claims=_claims(email="ada@example.com", name="Ada"))
    identity_user(claims=_claims())  # front end A: {sub, iat, exp, iss, aud} only
    identity = ExternalIdentity.objects.get()
    assert (identity.email, identity.name) == ("ada@example.com", "Ada")


def test_the_same_email_under_another_subject_is_another_user():
    one = identity_user(claims=_claims("sub-1", email="same@example.com"))
    two = identity_user(claims=_claims("sub-2", email="same@example.com"))
    assert one != two


def test_a_claimed_email_never_links_to_a_local_account():
    """Better Auth apps often skip email verification: linking would hand it over."""
    victim = UserFactory.create(email="victim@example.com")
    user = identity_user(claims=_claims(email="victim@example.com", emailVerified=True))
    assert user != victim
    assert user.email != victim.email
    assert ExternalIdentity.objects.get().email_verified is True


def test_last_seen_is_written_at_most_once_per_refresh_interval(
    settings, django_assert_num_queries
):
    identity_user(claims=_claims())
    ExternalIdentity.objects.update(
        last_seen_at=timezone.now() - datetime.timedelta(days=2)
    )
    with django_assert_num_queries(2):  # read, then one update
        identity_user(claims=_claims())
    with django_assert_num_queries(1):
        identity_user(claims=_claims())
    seen = ExternalIdentity.objects.get().last_seen_at
    assert timezone.now() - seen < datetime.timedelta(minutes=1)


def test_the_provider_setting_keys_identities(settings):
    one = identity_user(claims=_claims("same-sub"))
    settings.BETTER_AUTH_PROVIDER = "other-better-auth"
    two = identity_user(claims=_claims("same-sub"))
    assert one != two


def test_the_database_refuses_a_second_identity_for_the_same_subject():
    user = identity_user(claims=_claims("sub-1"))
    other = UserFactory.create()
    with pytest.raises(IntegrityError):
        ExternalIdentity.objects.create(
            provider="better-auth", subject="sub-1", user=other
        )
    assert user


def test_the_database_refuses_two_identities_of_one_user_at_one_provider():
    user = identity_user(claims=_claims("sub-1"))
    with pytest.raises(IntegrityError):
        ExternalIdentity.objects.create(
            provider="better-auth", subject="sub-2", user=user
        )


@pytest.mark.parametrize("field", ["subject", "provider"])
def test_the_database_refuses_an_empty_subject_or_provider(field):
    user = UserFactory.create()
    values = {"provider": "better-auth", "subject": "s", field: ""}
    with pytest.raises(IntegrityError):
        ExternalIdentity.objects.create(user=user, **values)


def test_deleting_the_local_user_deletes_the_identity():
    user = identity_user(claims=_claims())
    user.delete()
    assert not ExternalIdentity.objects.exists()
