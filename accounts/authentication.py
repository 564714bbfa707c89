"""Bearer-token authentication for the API."""

from __future__ import annotations

from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.request import Request
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

# simplejwt writes it into every token of ours; Better Auth's tokens never carry it.
TOKEN_TYPE_CLAIM = "token_type"  # noqa: S105 (a claim name, not a secret)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's JWT authentication; a user id that is no UUID is a 401, not a 500.

    Only a token signed with our key gets as far as the user lookup, so the id is
    malformed only if the key leaked or a bug issued it: refuse it like any other
    invalid token.
    """

    def authenticate(self, request: Request) -> Any:
        """As simplejwt does, except that a Better Auth token is handed on.

        With ``BETTER_AUTH_ENABLED``, a well-formed JWT without our ``token_type``
        claim is left to the next class (betterauth.authentication); anything else,
        garbage included, is judged here as before.
        """
        if settings.BETTER_AUTH_ENABLED:
            header = self.get_header(request)
            raw = self.get_raw_token(header) if header is not None else None
            if raw is not None and _not_ours(raw):
                return None
        return super().authenticate(request)

    # simplejwt annotates get_user with a TypeVar bound to nothing in its arguments.
    def get_user(self, validated_token: Token) -> AbstractBaseUser:  # type: ignore[override]
        try:
            return super().get_user(validated_token)
        except ValidationError:
            raise InvalidToken(
                "Token contained no recognizable user identification"
            ) from None


def _not_ours(raw: bytes) -> bool:
    try:
        payload = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return TOKEN_TYPE_CLAIM not in payload


class JWTAuthenticationScheme(SimpleJWTScheme):
    """OpenAPI: the bearer scheme drf-spectacular documents for simplejwt's class."""

    target_class = "accounts.authentication.JWTAuthentication"
