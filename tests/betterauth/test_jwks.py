"""betterauth.jwks against a real (local) JWKS server: caching, rotation, outages.

The JWKS server is a real HTTP server in a thread (tests/support/betterauth.py) that
counts the fetches it answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from betterauth import jwks, verifier
from tests.support.betterauth import Issuer, JWKSServer, SigningKey, jwks_server

SUBJECT = "u1"


@pytest.fixture
def served(better_auth: Issuer, settings) -> Iterator[JWKSServer]:
    """The issuer's JWKS behind a URL, as in production (nothing inline)."""
    with jwks_server(better_auth) as server:
        settings.BETTER_AUTH_JWKS = ""
        settings.BETTER_AUTH_JWKS_URL = server.url
        settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = 60
        settings.BETTER_AUTH_JWKS_TIMEOUT_SECONDS = 2
        yield server


def test_the_first_token_fetches_once_and_the_rest_come_from_the_cache(
    better_auth, served
):
    for _ in range(20):
        assert verifier.verify(better_auth.token(SUBJECT)).subject == SUBJECT
    assert served.fetches == 1


def test_the_keys_are_shared_through_the_cache_not_per_process(better_auth, served):
    verifier.verify(better_auth.token(SUBJECT))
    jwks._parsed.clear()  # what another worker process starts with
    verifier.verify(better_auth.token(SUBJECT))
    assert served.fetches == 1
    assert cache.get(jwks.KeySource.from_settings().cache_key)["jwks"] == (
        better_auth.jwks()
    )


def test_a_rotated_key_is_picked_up_with_one_fetch_and_the_old_one_keeps_working(
    better_auth, served
):
    old = better_auth.current
    verifier.verify(better_auth.token(SUBJECT))
    new = better_auth.rotate()
    served.document = better_auth.jwks()

    assert verifier.verify(better_auth.token(SUBJECT, key=new)).subject == SUBJECT
    assert verifier.verify(better_auth.token(SUBJECT, key=old)).subject == SUBJECT
    assert served.fetches == 2


def test_a_flood_of_unknown_kids_costs_one_fetch_per_interval(better_auth, served):
    verifier.verify(better_auth.token(SUBJECT))
    for _ in range(100):
        forged = better_auth.token(SUBJECT, key=SigningKey("EdDSA"))
        with pytest.raises(verifier.InvalidToken):
            verifier.verify(forged)
    assert served.fetches == 2  # the first token's, then one for the whole flood


def test_a_cold_flood_of_unknown_kids_costs_two_fetches(better_auth, served):
    """The first loads the keys, the second looks for the unknown kid; no more."""
    for _ in range(50):
        with pytest.raises(verifier.InvalidToken):
            verifier.verify(better_auth.token(SUBJECT, key=SigningKey("EdDSA")))
    assert served.fetches == 2


def test_known_keys_keep_working_while_the_jwks_server_is_down(
    better_auth, served, settings
):
    settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = 1
    verifier.verify(better_auth.token(SUBJECT))
    served.stop()
    settings.BETTER_AUTH_JWKS_CACHE_SECONDS = 0  # stale: the next call refetches
    time.sleep(1.1)

    assert verifier.verify(better_auth.token(SUBJECT)).subject == SUBJECT
    assert served.fetches == 1  # the refetch found the port closed


def test_a_key_dropped_from_the_jwks_stops_working_after_the_cache_time(
    better_auth, served, settings
):
    settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = 1
    old = better_auth.current
    verifier.verify(better_auth.token(SUBJECT))
    better_auth.rotate()
    better_auth.keys.remove(old)  # its grace period is over
    served.document = better_auth.jwks()
    settings.BETTER_AUTH_JWKS_CACHE_SECONDS = 0
    time.sleep(1.1)

    with pytest.raises(verifier.InvalidToken):
        verifier.verify(better_auth.token(SUBJECT, key=old))


def test_a_cold_start_with_the_jwks_down_is_unavailable_then_recovers(
    better_auth, served, settings
):
    served.up = False
    settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = 1
    token = better_auth.token(SUBJECT)
    with pytest.raises(jwks.KeysUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.retry_after == 1
    # Within the interval: no second fetch, still unavailable (never a 401).
    with pytest.raises(jwks.KeysUnavailable):
        verifier.verify(token)
    assert served.fetches == 1

    served.up = True
    time.sleep(1.1)
    assert verifier.verify(token).subject == SUBJECT
    assert served.fetches == 2


def test_a_slow_jwks_server_times_out_instead_of_hanging(better_auth, settings):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        port = listener.getsockname()[1]
        settings.BETTER_AUTH_JWKS = ""
        settings.BETTER_AUTH_JWKS_URL = f"http://127.0.0.1:{port}/api/auth/jwks"
        settings.BETTER_AUTH_JWKS_TIMEOUT_SECONDS = 1
        started = time.monotonic()
        with pytest.raises(jwks.KeysUnavailable):
            verifier.verify(better_auth.token(SUBJECT))
        assert time.monotonic() - started < 3
    finally:
        listener.close()


@pytest.mark.parametrize(
    "document", [{"keys": []}, {"nokeys": 1}, ["x"], {"keys": [{"kty": "bogus"}]}]
)
def test_an_unusable_jwks_document_is_a_failed_fetch(
    better_auth, served, settings, document
):
    served.document = document
    with pytest.raises(jwks.KeysUnavailable):
        verifier.verify(better_auth.token(SUBJECT))


def test_a_token_never_chooses_where_keys_come_from(better_auth, served):
    """jku, x5u and an embedded jwk are ignored: only the configured URL is read."""
    stranger = SigningKey("EdDSA")
    token = better_auth.token(
        SUBJECT,
        key=stranger,
        headers={
            "jku": "http://127.0.0.1:9/evil.json",
            "x5u": "http://127.0.0.1:9/evil.pem",
            "jwk": stranger.public_jwk(),
        },
    )
    with pytest.raises(verifier.InvalidToken):
        verifier.verify(token)
    assert served.fetches == 1


def test_an_inline_jwks_may_be_a_file(better_auth, settings, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(better_auth.jwks_json())
    settings.BETTER_AUTH_JWKS = str(path)
    assert verifier.verify(better_auth.token(SUBJECT)).subject == SUBJECT


@pytest.mark.parametrize("inline", ['{"keys": []}', "{not json", "/no/such/jwks.json"])
def test_an_unusable_inline_jwks_is_unavailable_not_a_crash(
    better_auth, settings, inline
):
    settings.BETTER_AUTH_JWKS = inline
    with pytest.raises(jwks.KeysUnavailable):
        verifier.verify(better_auth.token(SUBJECT))
