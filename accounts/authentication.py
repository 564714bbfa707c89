"""Bearer-token authentication for the API."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's JWT authentication; a user id that is no UUID is a 401, not a 500.

    Only a token signed with our key gets as far as the user lookup, so the id is
    malformed only if the key leaked or a bug issued it: refuse it like any other
    invalid token.
    """

    # simplejwt annotates get_user with a TypeVar bound to nothing in its arguments.
    def get_user(self, validated_token: Token) -> AbstractBaseUser:  # type: ignore[override]
        try:
            return super().get_user(validated_token)
        except ValidationError:
            raise InvalidToken(
                "Token contained no recognizable user identification"
            ) from None


class JWTAuthenticationScheme(SimpleJWTScheme):
    """OpenAPI: the bearer scheme drf-spectacular documents for simplejwt's class."""

    target_class = "accounts.authentication.JWTAuthentication"
