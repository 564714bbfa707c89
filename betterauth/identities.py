"""Just-in-time local users for Better Auth subjects.

A Better Auth user becomes a local user on their first valid request. The link is
the identity row, unique on (provider, subject); the local user gets an unusable
password and a synthetic, unguessable login email under the reserved ``.invalid``
domain, so it can neither sign in with a password nor collide with, or take over, a
local account. The claimed email and name are profile data on the identity, never a
way to find an account.
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from betterauth.models import ExternalIdentity
from betterauth.verifier import Claims

SYNTHETIC_EMAIL_DOMAIN = "users.invalid"
_NAME_MAX = User._meta.get_field("name").max_length or 150
_EMAIL_MAX = ExternalIdentity._meta.get_field("email").max_length or 254


def synthetic_email() -> str:
    """A login email no person has: random, under a domain that cannot exist."""
    return f"ba-{secrets.token_hex(16)}@{SYNTHETIC_EMAIL_DOMAIN}"


def identity_user(*, claims: Claims, provider: str | None = None) -> User:
    """The local user of ``claims.subject``, made on first sight.

    Two concurrent first requests make one user: the loser's insert hits the
    (provider, subject) unique constraint, rolls back and reads the winner's row.
    The profile fields are refreshed when the claims change them, and
    ``last_seen_at`` at most once per ``BETTER_AUTH_PROFILE_REFRESH_SECONDS``.
    """
    provider = provider or settings.BETTER_AUTH_PROVIDER
    identity = _find(provider, claims.subject)
    if identity is None:
        try:
            identity = _create(provider, claims)
        except IntegrityError:
            identity = _find(provider, claims.subject)
            if identity is None:  # pragma: no cover - an identity deleted at once
                raise
    elif identity.user.is_active:  # a refused user's profile is left as it was
        _refresh(identity, claims)
    return identity.user


def _find(provider: str, subject: str) -> ExternalIdentity | None:
    return (
        ExternalIdentity.objects.select_related("user")
        .filter(provider=provider, subject=subject)
        .first()
    )


# Profile field on the identity -> the claim it comes from.
_CLAIM_OF = {"email": "email", "name": "name", "email_verified": "emailVerified"}


def _profile(claims: Claims) -> dict[str, str | bool | None]:
    return {
        "email": claims.email[:_EMAIL_MAX],
        "name": claims.name[:_NAME_MAX],
        "email_verified": claims.email_verified,
    }


@transaction.atomic
def _create(provider: str, claims: Claims) -> ExternalIdentity:
    profile = _profile(claims)
    user = User.objects.create_user(
        email=synthetic_email(), password=None, name=str(profile["name"])
    )
    return ExternalIdentity.objects.create(
        provider=provider, subject=claims.subject, user=user, **profile
    )


def _refresh(identity: ExternalIdentity, claims: Claims) -> None:
    now = timezone.now()
    # A claim the token does not carry (many set only sub) changes nothing.
    profile = {
        field: value
        for field, value in _profile(claims).items()
        if _CLAIM_OF[field] in claims.payload
    }
    changed = {k: v for k, v in profile.items() if getattr(identity, k) != v}
    every = datetime.timedelta(seconds=settings.BETTER_AUTH_PROFILE_REFRESH_SECONDS)
    if not changed and now - identity.last_seen_at < every:
        return
    ExternalIdentity.objects.filter(pk=identity.pk).update(**changed, last_seen_at=now)
    for name, value in changed.items():
        setattr(identity, name, value)
    identity.last_seen_at = now
    if "name" in changed and identity.user.name != profile["name"]:
        User.objects.filter(pk=identity.user_id).update(name=profile["name"])
        identity.user.name = str(profile["name"])
