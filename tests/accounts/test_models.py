"""The custom user: email login, case-insensitive uniqueness, Argon2 hashing."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import identify_hasher, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from config.settings import base as base_settings
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_create_user_uses_the_email_as_login_and_hashes_the_password():
    user = User.objects.create_user("Alice@EXAMPLE.com", "s3cret-passphrase")

    assert isinstance(user.pk, uuid.UUID)
    assert user.email == "Alice@example.com"  # the domain part is normalised
    assert user.get_username() == "Alice@example.com"
    assert user.password != "s3cret-passphrase"
    assert user.check_password("s3cret-passphrase")
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert user.date_joined is not None
    assert user.last_login is None


def test_create_user_without_email_is_refused():
    with pytest.raises(ValueError, match="email address is required"):
        User.objects.create_user("   ", "pw")


def test_create_superuser_sets_staff_and_superuser():
    admin = User.objects.create_superuser("root@example.com", "pw-long-enough")
    assert admin.is_staff
    assert admin.is_superuser


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_create_superuser_refuses_a_false_flag(flag):
    with pytest.raises(ValueError, match=flag):
        User.objects.create_superuser("root@example.com", "pw", **{flag: False})


def test_argon2_is_the_first_password_hasher_of_the_real_settings(settings):
    assert base_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = base_settings.PASSWORD_HASHERS
    encoded = make_password("pw")
    assert encoded.startswith("argon2$argon2id$")
    assert identify_hasher(encoded).algorithm == "argon2"


def test_name_is_optional_and_limited_to_150_characters():
    user = UserFactory.build(name="")
    user.full_clean(exclude=["password"])
    user.name = "x" * 151
    with pytest.raises(ValidationError) as excinfo:
        user.full_clean(exclude=["password"])
    assert "name" in excinfo.value.message_dict


def test_email_is_unique_across_letter_case_in_the_database():
    UserFactory.create(email="bob@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("BOB@Example.COM", "pw")


def test_email_uniqueness_across_case_has_a_validation_message():
    UserFactory.create(email="bob@example.com")
    clash = UserFactory.build(email="Bob@EXAMPLE.com")
    with pytest.raises(ValidationError) as excinfo:
        clash.full_clean(exclude=["password"])
    assert excinfo.value.messages == ["A user with this email address already exists."]


def test_blank_email_is_rejected_by_the_database():
    user = UserFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(email="  ")


def test_blank_email_has_a_validation_message():
    user = UserFactory.build(email="")
    with pytest.raises(ValidationError) as excinfo:
        user.full_clean(exclude=["password"])
    assert excinfo.value.message_dict["email"] == ["This field cannot be blank."]


def test_null_email_is_rejected_by_the_database():
    user = UserFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(email=None)


def test_login_lookup_ignores_letter_case():
    user = UserFactory.create(email="carol@example.com")
    assert User.objects.get_by_natural_key("CAROL@example.COM") == user
    assert authenticate(email="Carol@Example.com", password=DEFAULT_PASSWORD) == user


def test_the_login_lookup_uses_the_lower_email_expression():
    sql = str(User.objects.with_email("X@Y.Z").query).lower()
    assert "lower(" in sql
    assert "upper(" not in sql
