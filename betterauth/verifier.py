"""Verifying a Better Auth JWT: which key, which algorithm, which claims.

Two verifiers, chosen by the token's ``alg`` header, which must first be in
``BETTER_AUTH_ALGORITHMS``:

- asymmetric (EdDSA by default; ES256, RS256 and friends when the JWKS holds such
  keys): the key is looked up by ``kid`` in the JWKS and passed to PyJWT as a key
  object, so the key's own algorithm verifies the signature and the header cannot
  choose another; the header must also name that same algorithm;
- HS256 (opt-in): only ``BETTER_AUTH_SECRET``. JWKS material is never an HMAC secret.

Then the claims: ``exp``, ``iat`` and ``sub`` required, ``iss`` and ``aud`` as
configured, ``BETTER_AUTH_LEEWAY_SECONDS`` of clock skew and, optionally, a cap on
the lifetime (``exp - iat``). A token carrying simplejwt's ``token_type`` is one of
ours and is refused here whatever else it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from jwt.exceptions import PyJWTError

from betterauth import jwks

HS256 = "HS256"
# simplejwt writes this claim into every token of ours; Better Auth never does.
OUR_TOKEN_CLAIM = "token_type"  # noqa: S105 (a claim name, not a secret)
MAX_SUBJECT_LENGTH = 255


class InvalidToken(Exception):
    """The token is not a valid Better Auth token (a 401)."""


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    subject: str
    payload: dict[str, Any]

    @property
    def email(self) -> str:
        value = self.payload.get("email")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        value = self.payload.get("name")
        return value if isinstance(value, str) else ""

    @property
    def email_verified(self) -> bool | None:
        value = self.payload.get("emailVerified")
        return value if isinstance(value, bool) else None


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError:
        raise InvalidToken("The token is malformed.") from None
    return header


def is_ours(token: str) -> bool:
    """Whether the (unverified) token has the shape of a token this API issued."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError:
        return False
    return OUR_TOKEN_CLAIM in payload


def verify(token: str) -> Claims:
    """Check ``token`` and return its claims.

    Raises :class:`InvalidToken` (401) for any bad token, and
    :class:`jwks.KeysUnavailable` (503) when no signing key is known yet.
    """
    header = unverified_header(token)
    alg = header.get("alg")
    allowed = list(settings.BETTER_AUTH_ALGORITHMS)
    if not isinstance(alg, str) or alg not in allowed:
        raise InvalidToken("The token's algorithm is not accepted.")
    if alg == HS256:
        key: Any = _shared_secret()
    else:
        key = _public_key(header, alg)
    return _decode(token, key, alg)


def _shared_secret() -> str:
    secret: str = settings.BETTER_AUTH_SECRET
    if len(secret.encode()) < 32:
        # Settings refuse this at start-up; a test that changes settings may not.
        raise InvalidToken("HS256 tokens are not accepted here.")
    return secret


def _public_key(header: dict[str, Any], alg: str) -> jwt.PyJWK:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        raise InvalidToken("The token names no key.")
    try:
        key = jwks.signing_key(kid)
    except jwks.UnknownKey:
        raise InvalidToken("The token's key is unknown.") from None
    if key.algorithm_name != alg:
        raise InvalidToken("The token's algorithm does not match its key.")
    return key


def _decode(token: str, key: Any, alg: str) -> Claims:
    issuer: str = settings.BETTER_AUTH_ISSUER
    audience: list[str] = list(settings.BETTER_AUTH_AUDIENCE)
    try:
        payload = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            issuer=issuer or None,
            audience=audience or None,
            leeway=settings.BETTER_AUTH_LEEWAY_SECONDS,
            options={
                "require": ["exp", "iat", "sub"],
                "verify_iss": bool(issuer),
                "verify_aud": bool(audience),
            },
        )
    except PyJWTError as error:
        raise InvalidToken(f"The token is invalid: {error}") from None
    if OUR_TOKEN_CLAIM in payload:
        raise InvalidToken("This is not a Better Auth token.")
    subject = payload["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidToken("The token's subject is empty.")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidToken("The token's subject is too long.")
    cap: int = settings.BETTER_AUTH_MAX_TOKEN_LIFETIME_SECONDS
    if cap and int(payload["exp"]) - int(payload["iat"]) > cap:
        raise InvalidToken("The token lives longer than this API accepts.")
    return Claims(subject=subject, payload=payload)
