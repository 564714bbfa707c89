"""Every setting of the project; the environment switches behaviour.

``local``, ``test`` and ``production`` import everything from here and change only a
few values. Every variable read here is listed, with a placeholder, in ``.env.example``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int, env_list, env_str

# Lets classes such as admin.ModelAdmin[Task] be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# --- Core ----------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", default=False)

_secret_key = env_str("DJANGO_SECRET_KEY", default="")
if not _secret_key:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off. Set it to a long "
            "random string: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
    _secret_key = "django-insecure-local-development-only-not-for-production"  # noqa: S105
SECRET_KEY = _secret_key

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # OpClass in index expressions (the trigram search indexes of todos.Task).
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "api",
    "accounts",
    "todos",
    "betterauth",
    "compat",
]

MIDDLEWARE = [
    "api.requestlog.RequestLogMiddleware",
    # Outside everything that may answer early, so every response carries the policy.
    "api.middleware.ContentSecurityPolicyMiddleware",
    # Before the body limit: a preflight (and every refusal below) carries the CORS
    # headers, or the browser hides the real answer behind a CORS error.
    "corsheaders.middleware.CorsMiddleware",
    "api.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    # SITE_MIDDLEWARE, below, for every path outside /api/.
    "api.middleware.SiteMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Lets reference counting free a rendered DRF response's view and requests.
    "api.middleware.ReleaseRequestMiddleware",
    # Innermost: the problem 404 it substitutes still gets every header above.
    "api.middleware.ApiNotFoundMiddleware",
]

# What the admin and the static files need and the API does not (it authenticates
# by bearer token): api.middleware.SiteMiddleware runs these, in this order, for
# every request outside /api/ and skips them for the API's.
SITE_MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------
# DATABASE_URL is the application's URL (on Neon: the pooled endpoint). Without it the
# project runs on an embedded SQLite file so that a new machine needs nothing else.
#
# Connection lifetime: persistent connections (CONN_MAX_AGE) with a health check
# before each request reuses one, rather than Django's psycopg pool. Behind Neon's
# PgBouncer the pooling already happens server-side; a second pool per worker would
# only hold more idle server slots, and a dead connection (compute suspended, pooler
# restarted) is detected by the health check and replaced instead of failing a
# request.
DATABASES = {
    # An empty DATABASE_URL counts as unset.
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with psycopg's compiled timestamptz loader (api/postgresql).
    _db["ENGINE"] = "api.postgresql"
    _options = _db.setdefault("OPTIONS", {})
    # A cold or unreachable database fails the request after this many seconds
    # instead of hanging it.
    _options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 10))
    # DATABASE_POOLER=transaction: the URL points at a transaction-mode pooler
    # (Neon's pooled endpoint, PgBouncer). Session state does not survive between
    # transactions there, so: no server-side cursors, no prepared statements.
    DATABASE_POOLER = env_str("DATABASE_POOLER", default="")
    if DATABASE_POOLER not in {"", "transaction"}:
        raise ImproperlyConfigured("DATABASE_POOLER must be empty or 'transaction'.")
    if DATABASE_POOLER == "transaction":
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _options["prepare_threshold"] = None
    elif env_bool("DATABASE_PREPARED_STATEMENTS", default=True):
        # A direct connection keeps its session: bind parameters server-side and
        # let psycopg prepare a statement the fifth time this connection runs it,
        # so PostgreSQL parses and plans the hot queries once per connection.
        _options.setdefault("server_side_binding", True)
        _options.setdefault("prepare_threshold", 5)
    # manage.py sets DATABASE_SCHEMA_COMMAND for migrate and friends, which run on
    # the direct URL: fail fast rather than queue behind live traffic for a lock.
    if env_bool("DATABASE_SCHEMA_COMMAND", default=False):
        if DATABASE_POOLER == "transaction":
            raise ImproperlyConfigured(
                "Schema commands cannot run through a transaction pooler (it refuses "
                "the lock_timeout startup option): set DIRECT_DATABASE_URL."
            )
        lock_timeout = env_str("DATABASE_MIGRATION_LOCK_TIMEOUT", default="5s")
        _options["options"] = f"-c lock_timeout={lock_timeout}"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# auth.E003 wants unique=True on the login field; the email is instead unique in any
# letter case by the expression constraint accounts_user_email_ci_uniq, which is
# stricter, and the manager looks logins up case-insensitively.
SILENCED_SYSTEM_CHECKS = [
    "auth.E003",
    # The admin looks for its session, user and messages middleware, and check
    # --deploy for CSRF's, in MIDDLEWARE only; they are in SITE_MIDDLEWARE, and
    # api.E002 checks them there instead.
    "admin.E408",
    "admin.E409",
    "admin.E410",
    "security.W003",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cache (throttle counters) -------------------------------------------------------
# Shared by every worker process: Redis when REDIS_URL is set, else a database table
# (created by the accounts migrations), never per-process memory.
REDIS_URL = env_str("REDIS_URL", default="")
# A request waits at most this long for Redis (connecting, or an answer), then gets
# a 503 (api.problems.ThrottleUnavailable) instead of holding its worker.
REDIS_TIMEOUT = 2.0
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("DJANGO_CACHE_KEY_PREFIX", default="taskapi"),
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT,
                "socket_connect_timeout": REDIS_TIMEOUT,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

# --- API -----------------------------------------------------------------------------
API_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        # Only when BETTER_AUTH_ENABLED; never sees a token of ours (see the class).
        "betterauth.authentication.BetterAuthAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    # DRF's negotiation, its answer kept per distinct Accept header (bounded).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": [
        # DRF's JSON documents, written by orjson (api/renderers.py).
        "api.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_THROTTLE_USER", default="600/min"),
        "register_ip": env_str("API_THROTTLE_REGISTER_IP", default="20/hour"),
        "register_email": env_str("API_THROTTLE_REGISTER_EMAIL", default="5/hour"),
        "login_ip": env_str("API_THROTTLE_LOGIN_IP", default="60/min"),
        "login_email": env_str("API_THROTTLE_LOGIN_EMAIL", default="10/min"),
    },
    # Client IPs for throttling: how many proxies in front append X-Forwarded-For.
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0),
    "EXCEPTION_HANDLER": "api.problems.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

_jwt_key = env_str("JWT_SIGNING_KEY", default="")
if not _jwt_key and DEBUG:
    _jwt_key = "local-development-only-jwt-signing-key-0123456789"
if len(_jwt_key.encode()) < 32:
    raise ImproperlyConfigured(
        "JWT_SIGNING_KEY is required (at least 32 bytes) when DJANGO_DEBUG is off; "
        "it signs the API's tokens and is separate from DJANGO_SECRET_KEY."
    )

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_TOKEN_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_TOKEN_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": _jwt_key,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "CHECK_USER_IS_ACTIVE": True,
    # Tokens carry a digest of the password hash: changing the password revokes
    # every access and refresh token issued before.
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainSerializer",
}

# --- Better Auth (a Next.js front end's sign-in; docs/better-auth.md) ---------------
# Off by default: the compatibility routes /api/{user_id}/tasks answer 404 and Better
# Auth tokens are not read. The key source is configuration, never the token.
BETTER_AUTH_ENABLED = env_bool("BETTER_AUTH_ENABLED", default=False)
BETTER_AUTH_URL = env_str("BETTER_AUTH_URL", default="").rstrip("/")
# Expected iss and aud; both default to the Better Auth URL, as the jwt plugin sets
# them. An explicitly empty value turns that check off.
BETTER_AUTH_ISSUER = env_str("BETTER_AUTH_ISSUER", default=BETTER_AUTH_URL)
BETTER_AUTH_AUDIENCE = env_list(
    "BETTER_AUTH_AUDIENCE", default=[BETTER_AUTH_URL] if BETTER_AUTH_URL else []
)
BETTER_AUTH_JWKS_URL = env_str(
    "BETTER_AUTH_JWKS_URL",
    default=f"{BETTER_AUTH_URL}/api/auth/jwks" if BETTER_AUTH_URL else "",
)
# A JWKS document inline (JSON) or a path to one: replaces the URL (offline, tests).
BETTER_AUTH_JWKS = env_str("BETTER_AUTH_JWKS", default="")
BETTER_AUTH_ALGORITHMS = env_list("BETTER_AUTH_ALGORITHMS", default=["EdDSA"])
# Only read when HS256 is in BETTER_AUTH_ALGORITHMS (betterauth.checks enforces it).
BETTER_AUTH_SECRET = env_str("BETTER_AUTH_SECRET", default="")
BETTER_AUTH_LEEWAY_SECONDS = env_int("BETTER_AUTH_LEEWAY_SECONDS", 30)
# 0: no cap on exp - iat.
BETTER_AUTH_MAX_TOKEN_LIFETIME_SECONDS = env_int(
    "BETTER_AUTH_MAX_TOKEN_LIFETIME_SECONDS", 0
)
BETTER_AUTH_JWKS_CACHE_SECONDS = env_int("BETTER_AUTH_JWKS_CACHE_SECONDS", 3600)
BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = env_int(
    "BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS", 60
)
BETTER_AUTH_JWKS_TIMEOUT_SECONDS = env_int("BETTER_AUTH_JWKS_TIMEOUT_SECONDS", 5)
BETTER_AUTH_PROVIDER = env_str("BETTER_AUTH_PROVIDER", default="better-auth")
BETTER_AUTH_PROFILE_REFRESH_SECONDS = env_int(
    "BETTER_AUTH_PROFILE_REFRESH_SECONDS", 24 * 60 * 60
)
BETTER_AUTH_COMPAT_LIST_MAX = env_int("BETTER_AUTH_COMPAT_LIST_MAX", 1000)
_ba_algorithms = {"EdDSA", "ES256", "ES384", "ES512", "RS256", "PS256", "HS256"}
if not set(BETTER_AUTH_ALGORITHMS) <= _ba_algorithms:
    raise ImproperlyConfigured(
        f"BETTER_AUTH_ALGORITHMS may only name {', '.join(sorted(_ba_algorithms))}."
    )
if "HS256" in BETTER_AUTH_ALGORITHMS and (
    len(BETTER_AUTH_SECRET.encode()) < 32 or _jwt_key == BETTER_AUTH_SECRET
):
    raise ImproperlyConfigured(
        "HS256 in BETTER_AUTH_ALGORITHMS needs BETTER_AUTH_SECRET: at least 32 bytes "
        "and never the same as JWT_SIGNING_KEY."
    )
if BETTER_AUTH_ENABLED and not (
    BETTER_AUTH_JWKS or BETTER_AUTH_JWKS_URL or BETTER_AUTH_ALGORITHMS == ["HS256"]
):
    raise ImproperlyConfigured(
        "BETTER_AUTH_ENABLED needs a key source: BETTER_AUTH_URL, "
        "BETTER_AUTH_JWKS_URL or BETTER_AUTH_JWKS (or HS256 alone)."
    )

# --- CORS (django-cors-headers) -----------------------------------------------------
# Browser front ends on other origins; none by default. Bearer tokens, no cookies:
# credentials stay off.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 7200)
CORS_EXPOSE_HEADERS = ["ETag", "Location", "Retry-After"]
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "Task API",
    "DESCRIPTION": "A multi-user task API. Errors are application/problem+json.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs pages are public and the same for everyone: they read
    # no credentials, so a stale token in a browser or client cannot make them 401.
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "todos.models.TaskStatus",
    },
    # Swagger UI and Redoc come from drf-spectacular-sidecar's static files, served
    # by this project: the docs need no CDN, work offline and fit the CSP below.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Content-Security-Policy sent with every response by
# api.middleware.ContentSecurityPolicyMiddleware; empty sends none. Shaped like
# Django 6.0's SECURE_CSP (directive -> sources), so that an upgrade can swap in
# django.middleware.csp. Off here because Django's DEBUG error pages use inline
# scripts; config/settings/production.py turns it on.
SECURE_CSP: dict[str, list[str]] = {}

# --- Internationalisation ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (admin assets, served by whitenoise) -------------------------------
STATIC_URL = "static/"
# collectstatic writes here and whitenoise serves from here; movable for read-only
# checkouts and for tests.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Logging -------------------------------------------------------------------------
# One JSON object per line on stderr (DJANGO_LOG_FORMAT=plain for people reading a
# terminal). config/requestlog.py writes one line per request and stamps every record
# with the request id.
_LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", default="json")
if _LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("DJANGO_LOG_FORMAT must be 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "api.requestlog.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "api.requestlog.JsonFormatter"},
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # The request line above replaces Django's own one-line-per-request loggers.
    "loggers": {
        "django.server": {"level": "ERROR"},
    },
}

# Offline sync (docs/sync.md): how long the changes feed keeps deleted tasks'
# tombstones; a sync token older than that is answered 410 (resync from scratch).
TODOS_TOMBSTONE_RETENTION_DAYS = env_int("TODOS_TOMBSTONE_RETENTION_DAYS", 30)
# Idempotency-Key (api/idempotency.py): how long a key's stored answer is replayed.
API_IDEMPOTENCY_KEY_TTL_HOURS = env_int("API_IDEMPOTENCY_KEY_TTL_HOURS", 24)
