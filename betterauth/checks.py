"""System checks: Better Auth settings that are legal but risky are said out loud."""

from __future__ import annotations

import urllib.parse
from typing import Any

from django.conf import settings
from django.core import checks

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@checks.register(checks.Tags.security, deploy=True)
def better_auth_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W001: iss or aud not checked; W002: keys fetched over plain HTTP."""
    if not settings.BETTER_AUTH_ENABLED:
        return []
    found: list[checks.CheckMessage] = []
    if not settings.BETTER_AUTH_ISSUER or not settings.BETTER_AUTH_AUDIENCE:
        found.append(
            checks.Warning(
                "Better Auth tokens are accepted without an iss or aud check.",
                hint="Set BETTER_AUTH_ISSUER and BETTER_AUTH_AUDIENCE (by default "
                "both are BETTER_AUTH_URL).",
                id="betterauth.W001",
            )
        )
    url = urllib.parse.urlsplit(settings.BETTER_AUTH_JWKS_URL)
    if (
        not settings.BETTER_AUTH_JWKS
        and url.scheme == "http"
        and url.hostname not in LOOPBACK
    ):
        found.append(
            checks.Warning(
                "Better Auth's public keys are fetched over plain HTTP: whoever sits "
                "on the path can serve keys of their own and sign any token.",
                hint="Use an https:// BETTER_AUTH_JWKS_URL (or BETTER_AUTH_URL).",
                id="betterauth.W002",
            )
        )
    return found
