"""betterauth.verifier: which tokens pass, and every way a forgery fails."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from rest_framework_simplejwt.tokens import AccessToken

from betterauth import verifier
from tests.factories import UserFactory
from tests.support.betterauth import DROP, HS_SECRET, ISSUER, SigningKey

SUBJECT = "k3Yc1aFq7ZpN0uVb2RtW8sLx4DmHe6Gj"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(part: dict) -> str:
    return _b64(json.dumps(part, separators=(",", ":")).encode())


def test_a_stock_eddsa_token_verifies_and_keeps_the_user_claims(better_auth):
    claims = verifier.verify(better_auth.token(SUBJECT))

    assert claims.subject == SUBJECT
    assert (claims.email, claims.name) == (
        f"{SUBJECT.lower()}@example.com",
        "Ada Lovelace",
    )
    assert claims.email_verified is False
    assert claims.payload["iss"] == ISSUER


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_es256_and_rs256_keys_verify_when_the_jwks_holds_them_and_they_are_allowed(
    better_auth, settings, alg
):
    key = better_auth.rotate(alg)
    settings.BETTER_AUTH_JWKS = better_auth.jwks_json()
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", alg]

    assert verifier.verify(better_auth.token(SUBJECT, key=key)).subject == SUBJECT


def test_an_audience_list_containing_ours_is_accepted(better_auth):
    token = better_auth.token(SUBJECT, aud=["https://elsewhere.example", ISSUER])
    assert verifier.verify(token).subject == SUBJECT


def _invalid(token: str) -> str:
    with pytest.raises(verifier.InvalidToken) as caught:
        verifier.verify(token)
    return str(caught.value).lower()


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"iss": DROP}, "iss"),
        ({"aud": "https://evil.example"}, "audience"),
        ({"aud": DROP}, "aud"),
        ({"exp": int(time.time()) - 31, "iat": int(time.time()) - 900}, "expired"),
        ({"exp": DROP}, "exp"),
        ({"iat": DROP}, "iat"),
        ({"sub": DROP}, "sub"),
        ({"sub": ""}, "subject"),
        ({"sub": 42}, "subject"),
        ({"sub": "x" * 256}, "too long"),
        ({"iat": int(time.time()) + 600}, "not yet valid"),
        ({"token_type": "access"}, "not a better auth token"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_claims_are_refused(better_auth, claims, why):
    assert why in _invalid(better_auth.token(SUBJECT, **claims))


def test_expiry_within_the_leeway_is_accepted(better_auth):
    now = int(time.time())
    token = better_auth.token(SUBJECT, exp=now - 20, iat=now - 900)
    assert verifier.verify(token).subject == SUBJECT


def test_the_lifetime_cap_refuses_longer_tokens(better_auth, settings):
    settings.BETTER_AUTH_MAX_TOKEN_LIFETIME_SECONDS = 3600
    now = int(time.time())
    assert verifier.verify(better_auth.token(SUBJECT, exp=now + 3600)).subject
    assert "longer" in _invalid(better_auth.token(SUBJECT, exp=now + 7 * 86400))


def test_alg_none_is_refused(better_auth):
    claims = better_auth.claims(SUBJECT)
    header = {"alg": "none", "kid": better_auth.current.kid}
    token = f"{_segment(header)}.{_segment(claims)}."
    assert "algorithm" in _invalid(token)


def test_hs256_signed_with_the_public_key_is_refused_even_when_hs256_is_allowed(
    better_auth, settings
):
    """The classic confusion: the JWKS's public key used as an HMAC secret."""
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", "HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    public = better_auth.current.private.public_key()
    for material in (
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        json.dumps(better_auth.current.public_jwk()).encode(),
        better_auth.current.public_jwk()["x"].encode(),
    ):
        header = {"alg": "HS256", "kid": better_auth.current.kid, "typ": "JWT"}
        signing_input = f"{_segment(header)}.{_segment(better_auth.claims(SUBJECT))}"
        signature = hmac.new(material, signing_input.encode(), hashlib.sha256).digest()
        assert "invalid" in _invalid(f"{signing_input}.{_b64(signature)}")


def test_hs256_is_refused_while_not_allowed_even_with_the_right_secret(
    better_auth, settings
):
    settings.BETTER_AUTH_SECRET = HS_SECRET
    assert "algorithm" in _invalid(better_auth.hs256_token(SUBJECT))


def test_hs256_mode_accepts_front_end_as_token_shape(better_auth, settings):
    """{sub, iat, exp (+7 d), iss, aud} signed with the shared secret, no email."""
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", "HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    claims = verifier.verify(better_auth.hs256_token(SUBJECT))
    assert (claims.subject, claims.email, claims.name) == (SUBJECT, "", "")


def test_hs256_mode_refuses_another_secret_and_a_token_of_ours(better_auth, settings):
    settings.BETTER_AUTH_ALGORITHMS = ["HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    assert "invalid" in _invalid(better_auth.hs256_token(SUBJECT, secret="x" * 40))
    ours = str(AccessToken.for_user(UserFactory.build()))
    # Ours is HS256 too, signed with JWT_SIGNING_KEY: the signature fails first.
    assert "invalid" in _invalid(ours)


def test_an_asymmetric_alg_not_allowed_is_refused_before_any_key_lookup(
    better_auth, settings
):
    key = better_auth.rotate("RS256")
    settings.BETTER_AUTH_JWKS = better_auth.jwks_json()
    assert "algorithm" in _invalid(better_auth.token(SUBJECT, key=key))


def test_a_header_alg_other_than_the_keys_own_is_refused(better_auth, settings):
    """An ES256 key named by a token whose header claims EdDSA."""
    es = better_auth.rotate("ES256")
    settings.BETTER_AUTH_JWKS = better_auth.jwks_json()
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", "ES256"]
    eddsa = better_auth.keys[0]
    token = jwt.encode(
        better_auth.claims(SUBJECT),
        eddsa.private,
        algorithm="EdDSA",
        headers={"kid": es.kid},
    )
    assert "does not match" in _invalid(token)


def test_a_tampered_payload_is_refused(better_auth):
    header, _, signature = better_auth.token(SUBJECT).split(".")
    forged = _segment(better_auth.claims("someone-else"))
    assert "invalid" in _invalid(f"{header}.{forged}.{signature}")


def test_unknown_and_missing_kids_are_refused(better_auth):
    stranger = SigningKey("EdDSA")
    assert "unknown" in _invalid(better_auth.token(SUBJECT, key=stranger))
    no_kid = jwt.encode(
        better_auth.claims(SUBJECT), better_auth.current.private, algorithm="EdDSA"
    )
    assert "names no key" in _invalid(no_kid)


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "e30.e30.", "....."])
def test_garbage_is_refused(better_auth, garbage):
    assert _invalid(garbage)


def test_iss_and_aud_checks_can_be_turned_off_explicitly(better_auth, settings):
    """Front end E mints its own tokens with custom or no iss/aud."""
    settings.BETTER_AUTH_ISSUER = ""
    settings.BETTER_AUTH_AUDIENCE = []
    token = better_auth.token(SUBJECT, iss="anything", aud=DROP)
    assert verifier.verify(token).subject == SUBJECT
