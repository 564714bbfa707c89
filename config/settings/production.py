"""Production hardening on top of base; behaviour still comes from the environment."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int

from .base import *  # noqa: F403

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Database transport ---------------------------------------------------------------
# A database anywhere but this machine is reached over TLS, or the process refuses to
# start: sslmode must come with the URL (?sslmode=verify-full on Neon, with
# sslrootcert=system or a CA file). Local hosts and Unix sockets are exempt.
_LOCAL_DATABASE_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
_TLS_SSLMODES = {"require", "verify-ca", "verify-full"}
_database = DATABASES["default"]
if _database["ENGINE"] in {"django.db.backends.postgresql", "api.postgresql"}:
    _host = str(_database.get("HOST") or "")
    _sslmode = _database.get("OPTIONS", {}).get("sslmode", "")
    if (
        _host not in _LOCAL_DATABASE_HOSTS
        and not _host.startswith("/")
        and _sslmode not in _TLS_SSLMODES
    ):
        raise ImproperlyConfigured(
            f"The database host {_host} is not local, so DATABASE_URL must ask for "
            "TLS: add ?sslmode=verify-full (or require / verify-ca); "
            f"sslmode is {_sslmode or 'unset'}."
        )

# --- Content-Security-Policy (api.middleware.ContentSecurityPolicyMiddleware) ---------
# Everything the API, the admin and the docs pages load comes from this origin
# (Swagger UI and Redoc from drf-spectacular-sidecar's static files): no script,
# style, font or connection goes anywhere else, and no script is inline.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "worker-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
