"""betterauth.checks: risky Better Auth settings are warned about at deploy check."""

from __future__ import annotations

from betterauth.checks import better_auth_settings


def _ids() -> list[str | None]:
    return [message.id for message in better_auth_settings()]


def test_nothing_to_say_while_better_auth_is_off(settings):
    settings.BETTER_AUTH_ENABLED = False
    settings.BETTER_AUTH_ISSUER = ""
    assert _ids() == []


def test_a_sound_configuration_passes(settings):
    settings.BETTER_AUTH_ENABLED = True
    settings.BETTER_AUTH_ISSUER = "https://app.example.com"
    settings.BETTER_AUTH_AUDIENCE = ["https://app.example.com"]
    settings.BETTER_AUTH_JWKS = ""
    settings.BETTER_AUTH_JWKS_URL = "https://app.example.com/api/auth/jwks"
    assert _ids() == []


def test_unchecked_iss_or_aud_and_plain_http_keys_are_warned_about(settings):
    settings.BETTER_AUTH_ENABLED = True
    settings.BETTER_AUTH_ISSUER = ""
    settings.BETTER_AUTH_AUDIENCE = []
    settings.BETTER_AUTH_JWKS = ""
    settings.BETTER_AUTH_JWKS_URL = "http://app.example.com/api/auth/jwks"
    assert _ids() == ["betterauth.W001", "betterauth.W002"]


def test_plain_http_on_loopback_is_fine(settings):
    settings.BETTER_AUTH_ENABLED = True
    settings.BETTER_AUTH_ISSUER = "http://127.0.0.1:3000"
    settings.BETTER_AUTH_AUDIENCE = ["http://127.0.0.1:3000"]
    settings.BETTER_AUTH_JWKS = ""
    settings.BETTER_AUTH_JWKS_URL = "http://127.0.0.1:3000/api/auth/jwks"
    assert _ids() == []
