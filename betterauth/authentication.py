"""DRF authentication with Better Auth JWTs (``Authorization: Bearer <jwt>``).

Beside simplejwt's class on ``/api/v1/`` and alone on the compatibility routes.
The two never see each other's tokens: our class hands a token on only when it
decodes and lacks the ``token_type`` claim every token of ours carries, and this
class refuses any token that has it. Even routed to the wrong class a token would
fail: the secrets and algorithms differ (``JWT_SIGNING_KEY`` is never
``BETTER_AUTH_SECRET``; our tokens are HS256, Better Auth's EdDSA by default).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import User
from betterauth import jwks, verifier
from betterauth.identities import identity_user

CHALLENGE = 'Bearer realm="api"'
_CLAIMS_ATTRIBUTE = "_better_auth_claims"


class AuthenticationUnavailable(exceptions.APIException):
    """No signing key is known yet: a 503 with Retry-After, never a 401."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Sign-in cannot be checked right now; retry shortly."
    default_code = "authentication_unavailable"

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without one."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if not parts or parts[0] != "Bearer":
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            "Authorization header must contain two space-delimited values",
            code="bad_authorization_header",
        )
    return parts[1]


def verified_claims(request: Request) -> verifier.Claims | None:
    """The verified claims of the request's token, without touching the database.

    None without a bearer token; 401 for a bad one, 503 while no key is known. The
    result is kept on the request, so authenticating afterwards verifies nothing
    twice.
    """
    django_request = request._request
    cached = getattr(django_request, _CLAIMS_ATTRIBUTE, None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        return None
    if verifier.is_ours(token):
        raise exceptions.AuthenticationFailed(
            "This is not a Better Auth token.", code="token_not_valid"
        )
    try:
        claims = verifier.verify(token)
    except verifier.InvalidToken as error:
        raise exceptions.AuthenticationFailed(
            str(error), code="token_not_valid"
        ) from None
    except jwks.KeysUnavailable as error:
        raise AuthenticationUnavailable(wait=error.retry_after) from None
    setattr(django_request, _CLAIMS_ATTRIBUTE, claims)
    return claims


class BetterAuthAuthentication(BaseAuthentication):
    """A Better Auth JWT → the local user of its subject (made on first use).

    Does nothing unless ``BETTER_AUTH_ENABLED``. ``request.auth`` is the
    :class:`~betterauth.verifier.Claims`. A deactivated local user is refused even
    with a valid token.
    """

    def authenticate(self, request: Request) -> tuple[User, verifier.Claims] | None:
        if not settings.BETTER_AUTH_ENABLED:
            return None
        claims = verified_claims(request)
        if claims is None:
            return None
        user = identity_user(claims=claims)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(
                "User is inactive", code="user_inactive"
            )
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class BetterAuthAuthenticationScheme(OpenApiAuthenticationExtension):
    """OpenAPI: a second bearer scheme, a JWT issued by the Better Auth server."""

    target_class = "betterauth.authentication.BetterAuthAuthentication"
    name = "betterAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT (Better Auth)",
            "description": "A JWT from the front end's Better Auth server.",
        }
