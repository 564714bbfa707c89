"""The admin lists Better Auth identities with their local users, read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from betterauth.identities import identity_user
from betterauth.verifier import Claims
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_the_identity_list_shows_subject_claimed_email_and_local_user(admin_client):
    claims = Claims(
        subject="ba-subject-1", payload={"sub": "ba-subject-1", "email": "a@x.io"}
    )
    user = identity_user(claims=claims)

    response = admin_client.get(reverse("admin:betterauth_externalidentity_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "ba-subject-1" in page
    assert "a@x.io" in page
    assert user.email in page


def test_identities_cannot_be_added_by_hand(admin_client):
    response = admin_client.get(reverse("admin:betterauth_externalidentity_add"))
    assert response.status_code == 403
