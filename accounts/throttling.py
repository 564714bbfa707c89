"""Throttles for the unauthenticated account endpoints: per client IP and per email."""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class _ScopedIPThrottle(SimpleRateThrottle):
    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


class _ScopedEmailThrottle(SimpleRateThrottle):
    """Counts attempts per email address, whatever letter case or client IP.

    The cache key holds a digest of the address, not the address itself.
    """

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        email = data.get("email")
        if not isinstance(email, str) or not email.strip():
            return None
        # surrogatepass: JSON may carry a lone surrogate ("\udc80"), which strict
        # UTF-8 cannot encode; the serializer refuses it later, with a 400.
        normalized = email.strip().lower().encode(errors="surrogatepass")
        digest = hashlib.sha256(normalized).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class RegisterIPThrottle(_ScopedIPThrottle):
    scope = "register_ip"


class RegisterEmailThrottle(_ScopedEmailThrottle):
    scope = "register_email"


class LoginIPThrottle(_ScopedIPThrottle):
    scope = "login_ip"


class LoginEmailThrottle(_ScopedEmailThrottle):
    scope = "login_email"
