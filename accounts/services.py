"""Account writes: registration, profile, password, deletion and token rotation."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, get_md5_hash_password

from accounts.models import User


class EmailTaken(Exception):
    """Another account already uses this email address, in some letter case."""


class TokenRejected(Exception):
    """The refresh token is invalid, expired, revoked or already used."""


def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create an account; raise :class:`EmailTaken` if the email is in use."""
    try:
        with transaction.atomic():
            return User.objects.create_user(email, password, name=name)
    except IntegrityError as exc:
        raise EmailTaken(email) from exc


def user_update_profile(*, user: User, email: str | None, name: str | None) -> User:
    """Change the display name and/or the login email."""
    fields = []
    if name is not None:
        user.name = name
        fields.append("name")
    if email is not None:
        user.email = User.objects.normalize_email(email)
        fields.append("email")
    if fields:
        try:
            with transaction.atomic():
                user.save(update_fields=fields)
        except IntegrityError as exc:
            raise EmailTaken(user.email) from exc
    return user


def _revoke_refresh_tokens(user: User) -> None:
    outstanding = OutstandingToken.objects.filter(user=user).exclude(
        blacklistedtoken__isnull=False
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding],
        ignore_conflicts=True,
    )


@transaction.atomic
def user_change_password(*, user: User, new_password: str) -> None:
    """Set a new password and revoke every refresh token issued before.

    Access tokens die too: they carry a digest of the old password hash
    (``CHECK_REVOKE_TOKEN``).
    """
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _revoke_refresh_tokens(user)


def user_delete(*, user: User) -> None:
    """Delete the account; its tasks go with it (cascade)."""
    user.delete()


def tokens_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _load_refresh(raw: str) -> tuple[RefreshToken, User]:
    try:
        # Checks the signature, expiry, token type and the blacklist.
        token = RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise TokenRejected(str(exc)) from exc
    except KeyError:  # simplejwt reads the jti for the blacklist before checking it
        raise TokenRejected("Token has no id") from None
    try:
        user = User.objects.filter(
            pk=token.get(jwt_settings.USER_ID_CLAIM), is_active=True
        ).first()
    except ValidationError:  # a user id that is no UUID
        user = None
    if user is None:
        raise TokenRejected("The account behind this token is gone or inactive.")
    if token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(
        user.password
    ):
        raise TokenRejected("The password has changed since this token was issued.")
    return token, user


def _claim(token: RefreshToken, user: User) -> None:
    """Blacklist ``token``; exactly one of several concurrent callers succeeds.

    The unique constraint on the blacklist row is the arbiter: a second caller
    waits for the first to commit and then fails its insert.
    """
    jti = token[jwt_settings.JTI_CLAIM]
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={
            "user": user,
            "token": str(token),
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as exc:
        raise TokenRejected("This refresh token has already been used.") from exc


@transaction.atomic
def token_refresh(*, raw: str) -> dict[str, str]:
    """Rotate a refresh token: revoke it and issue a new access/refresh pair."""
    token, user = _load_refresh(raw)
    _claim(token, user)
    return tokens_for(user)


@transaction.atomic
def token_revoke(*, raw: str, user: User) -> None:
    """Log out: the refresh token, which must be ``user``'s, stops working."""
    token, owner = _load_refresh(raw)
    if owner.pk != user.pk:
        raise TokenRejected("This refresh token belongs to another account.")
    _claim(token, owner)
