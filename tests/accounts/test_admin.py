"""The user admin: email login forms that hash passwords, search and filters."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client: Client) -> Client:
    admin = User.objects.create_superuser("admin@example.com", "admin-pass-123")
    client.force_login(admin)
    return client


def test_user_changelist_loads_and_searches_by_email_and_name(admin_client_):
    UserFactory.create(email="findme@example.com", name="Zed")
    UserFactory.create(email="other@example.com", name="Quinn")
    url = reverse("admin:accounts_user_changelist")

    by_email = admin_client_.get(url, {"q": "findme"})
    by_name = admin_client_.get(url, {"q": "Quinn"})
    filtered = admin_client_.get(url, {"is_staff__exact": "1"})

    assert by_email.status_code == 200
    assert b"findme@example.com" in by_email.content
    assert b"other@example.com" not in by_email.content
    assert b"other@example.com" in by_name.content
    assert b"findme@example.com" not in by_name.content
    assert b"admin@example.com" in filtered.content
    assert b"findme@example.com" not in filtered.content


def test_user_add_form_creates_a_user_with_a_hashed_password(admin_client_):
    response = admin_client_.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.com",
            "name": "New Person",
            "usable_password": "true",
            "password1": "a-Strong-passphrase-42",
            "password2": "a-Strong-passphrase-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.name == "New Person"
    assert user.password != "a-Strong-passphrase-42"
    assert user.check_password("a-Strong-passphrase-42")


def test_user_add_form_refuses_an_email_taken_in_another_case(admin_client_):
    UserFactory.create(email="taken@example.com")
    response = admin_client_.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "TAKEN@example.com",
            "usable_password": "true",
            "password1": "a-Strong-passphrase-42",
            "password2": "a-Strong-passphrase-42",
        },
    )
    assert response.status_code == 200
    assert b"A user with this email address already exists." in response.content
    assert User.objects.with_email("taken@example.com").count() == 1


def test_user_change_form_loads_and_saves(admin_client_):
    user = UserFactory.create(name="Before")
    url = reverse("admin:accounts_user_change", args=[user.pk])
    assert admin_client_.get(url).status_code == 200

    response = admin_client_.post(
        url,
        {
            "email": user.email,
            "name": "After",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.name == "After"
