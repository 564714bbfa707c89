"""Bearer-token authentication for the API: simplejwt's access tokens, checked cheaply.

Every request pays for this, so it does simplejwt's work without its machinery:
PyJWT directly, with the key, algorithm and options worked out once, a token's
signature and claims verified once per process (its expiry on every use), and the
user read with one SELECT whose SQL the ORM compiled once, not a queryset per
request. What
it accepts and refuses, and with which ``code``, is what simplejwt 5.5.1's
``JWTAuthentication`` with ``AccessToken`` does, under the same ``SIMPLE_JWT``
settings; tests/accounts/test_authentication.py holds it to that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.signals import setting_changed
from django.db import connections, router
from django.utils.translation import gettext as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.request import Request
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import AccessToken, Token
from rest_framework_simplejwt.utils import aware_utcnow, get_md5_hash_password

from accounts.models import User
from api.postgresql import statement_cursor
from api.principals import PendingPrincipal

# simplejwt writes it into every token of ours; Better Auth's tokens never carry it.
TOKEN_TYPE_CLAIM = "token_type"  # noqa: S105 (a claim name, not a secret)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's JWT authentication, as strict and cheaper per request.

    Per request: the token's expiry (its signature and other claims when this
    process first sees it) and one SELECT of the user's row, so a
    deactivated or deleted user, or a token issued before a password change, is
    refused on the very next request. ``request.user`` is a complete ``User``
    (every column loaded); ``request.auth`` the ``AccessToken``.
    """

    def __init__(self) -> None:
        # simplejwt looks the user model up for each request's instance; this class
        # always reads accounts.User (AUTH_USER_MODEL).
        self.user_model = User

    def authenticate(  # type: ignore[override]
        self, request: Request
    ) -> tuple[User, Token] | None:
        """As simplejwt does, except that a Better Auth token is handed on.

        With ``BETTER_AUTH_ENABLED``, a well-formed JWT without our ``token_type``
        claim is left to the next class (betterauth.authentication); anything else,
        garbage included, is judged here as before.
        """
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        if settings.BETTER_AUTH_ENABLED and not _rules().knows(raw) and _not_ours(raw):
            return None
        token = self.get_validated_token(raw)
        pending = self._pending(request, token)
        if pending is not None:
            return pending, token  # type: ignore[return-value]
        return self.get_user(token), token

    def _pending(self, request: Request, token: Token) -> PendingUser | None:
        """The token's user, to be vouched for by the view's own read; else None.

        Only for a view whose ``folds_user_check()`` says this request's read
        carries the check (api.scoping.OwnerScopedViewSet), and only for a token
        the folded check can judge: anything else is judged now, by ``get_user``.
        """
        view = request.parser_context.get("view")
        folds = getattr(view, "folds_user_check", None)
        if folds is None or not folds():
            return None
        rules = _rules()
        if not rules.check_user_is_active or rules.revoke_token_claim is None:
            return None
        digest = token.get(rules.revoke_token_claim)
        if not isinstance(digest, str):
            return None
        try:
            pk = _PK.to_python(token[rules.user_id_claim])
        except (KeyError, TypeError, ValidationError):
            return None
        if pk is None:
            return None
        return PendingUser(pk, digest, token, self)

    def get_validated_token(self, raw_token: bytes) -> Token:
        """The access token's claims, verified as ``AccessToken(raw_token)`` would.

        A token this process verified before is not verified again: its signature
        and claims are the same bytes under the same key, so only its expiry can
        have changed, and that is checked on every use (``_Rules.recall``).
        """
        rules = _rules()
        current_time = aware_utcnow()
        payload = rules.recall(raw_token)
        if payload is not None:
            return _VerifiedAccessToken(raw_token, payload, current_time)
        try:
            payload = rules.decoder.decode(
                raw_token,
                rules.key,
                algorithms=rules.algorithms,
                audience=rules.audience,
                issuer=rules.issuer,
                leeway=rules.leeway,
            )
        except jwt.ExpiredSignatureError:
            raise _not_valid(_("Token is expired")) from None
        except jwt.InvalidTokenError:
            raise _not_valid(_("Token is invalid")) from None
        problem = rules.claims_problem(payload)
        if problem is not None:
            raise _not_valid(problem)
        rules.remember(raw_token, payload)
        return _VerifiedAccessToken(raw_token, dict(payload), current_time)

    # simplejwt annotates get_user with a TypeVar bound to nothing in its arguments.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        """The token's user, read now; refused if gone, inactive or re-passworded.

        A user id that is no UUID is a 401, not a 500: only a token signed with our
        key gets this far, so it is malformed only if the key leaked or a bug issued
        it.
        """
        rules = _rules()
        try:
            user_id = validated_token[rules.user_id_claim]
        except KeyError:
            raise InvalidToken(
                _("Token contained no recognizable user identification")
            ) from None
        try:
            user = _user_by_id(user_id)
        except ValidationError:
            raise InvalidToken(
                _("Token contained no recognizable user identification")
            ) from None
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if rules.check_user_is_active and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if rules.revoke_token_claim is not None and validated_token.get(
            rules.revoke_token_claim
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                _("The user's password has been changed."), code="password_changed"
            )
        return user


class PendingUser(PendingPrincipal):
    """The token's user before the database has vouched for them, on a fold.

    ``get_user`` reads the user's row in a statement of its own. A view that reads
    the user's rows with the same check in the same statement (a row comes back
    only if the user exists, is active and has the token's password digest) gets
    this instead: the id, for the owner filter, the throttle and the cursor salt,
    and the digest. The read ``vouch()``es for it when it returns rows; otherwise
    ``verify()`` runs ``get_user``, with its refusals. The view must settle it
    before answering (``OwnerScopedViewSet.finalize_response`` does). Any other
    attribute is the verified ``User``'s: reading one verifies first.
    """

    __slots__ = (
        "_authenticator",
        "_on_refusal",
        "_token",
        "_user",
        "digest",
        "pk",
        "vouched",
    )
    is_authenticated = True
    is_anonymous = False

    def __init__(
        self, pk: Any, digest: str, token: Token, authenticator: JWTAuthentication
    ) -> None:
        self.pk = pk
        self.digest = digest
        self.vouched = False
        self._token = token
        self._authenticator = authenticator
        self._user: User | None = None
        self._on_refusal: list[Callable[[], object]] = []

    @property
    def id(self) -> Any:
        return self.pk

    @property
    def settled(self) -> bool:
        """Vouched for by a folded read, or verified on its own."""
        return self.vouched or self._user is not None

    def vouch(self) -> None:
        """A read with the folded check returned rows: the check passed."""
        self.vouched = True

    def verify(self) -> User:
        """The user, read and checked as ``get_user`` does (its 401s), once."""
        if self._user is None:
            try:
                self._user = self._authenticator.get_user(self._token)
            except Exception:
                undo, self._on_refusal = self._on_refusal, []
                for callback in undo:
                    callback()
                raise
        return self._user

    def on_refusal(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` if ``verify()`` refuses this user: what was done on
        the token's word before the check (a throttle hit) is undone."""
        if not self.settled:
            self._on_refusal.append(callback)

    def __getattr__(self, name: str) -> Any:
        # Only names that are not ours get here: the full user, verified.
        return getattr(self.verify(), name)

    def __repr__(self) -> str:
        return f"<PendingUser {self.pk} {'settled' if self.settled else 'pending'}>"


class _VerifiedAccessToken(AccessToken):
    """An ``AccessToken`` around claims this module has verified already.

    ``AccessToken(raw)`` would decode and verify the same bytes a second time.
    """

    def __init__(self, raw: bytes, payload: dict[str, Any], current_time: Any) -> None:
        self.token = raw  # type: ignore[assignment]
        self.payload = payload
        self.current_time = current_time


def _not_valid(message: Any) -> InvalidToken:
    """simplejwt's answer to a token that is no valid access token."""
    return InvalidToken(
        {
            "detail": _("Given token not valid for any token type"),
            "messages": [
                {
                    "token_class": AccessToken.__name__,
                    "token_type": AccessToken.token_type,
                    "message": message,
                }
            ],
        }
    )


def _not_ours(raw: bytes) -> bool:
    try:
        payload = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return TOKEN_TYPE_CLAIM not in payload


# --- the token rules, worked out once from SIMPLE_JWT --------------------------------


# Tokens each process remembers having verified. A client sends the same access
# token with every request until it expires, so a few thousand cover the clients
# one worker serves; past that the memo starts again (memory stays flat).
VERIFIED_TOKENS_KEPT = 4096


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class _Rules:
    """What simplejwt checks of an access token, and with which key.

    With the tokens it has verified (``verified``): built again, and so emptied,
    whenever ``SIMPLE_JWT`` changes.
    """

    decoder: jwt.PyJWT
    key: Any
    algorithms: list[str]
    audience: Any
    issuer: str | None
    leeway: float
    token_type_claim: str | None
    jti_claim: str | None
    user_id_claim: str
    check_user_is_active: bool
    revoke_token_claim: str | None
    verified: dict[bytes, dict[str, Any]] = field(default_factory=dict)

    def knows(self, raw: bytes) -> bool:
        """This process verified ``raw`` under these rules (it may have expired)."""
        return raw in self.verified

    def recall(self, raw: bytes) -> dict[str, Any] | None:
        """The claims of ``raw`` if verified before, as a copy; None if not.

        Raises the expired-token 401 once it has expired: the one claim whose
        verdict changes with time only one way (``nbf`` and ``iat`` passed at the
        first check and stay passed), checked as PyJWT does, with the leeway.
        """
        payload = self.verified.get(raw)
        if payload is None:
            return None
        if int(payload["exp"]) <= _now() - self.leeway:
            self.verified.pop(raw, None)
            raise _not_valid(_("Token is expired"))
        return dict(payload)

    def remember(self, raw: bytes, payload: dict[str, Any]) -> None:
        """Keep ``raw``'s claims, which passed every check of an access token."""
        if len(self.verified) >= VERIFIED_TOKENS_KEPT:
            self.verified.clear()
        self.verified[raw] = payload

    def claims_problem(self, payload: dict[str, Any]) -> Any:
        """Why ``Token.verify`` would refuse these decoded claims; None if it would not.

        PyJWT has checked the signature, and ``exp``, ``nbf`` and ``iat`` when
        present; simplejwt also requires ``exp``, a ``jti`` and the access type.
        """
        if "exp" not in payload:
            return _("Token has no '{}' claim").format("exp")
        # PyJWT refused int(exp) <= now - leeway, which covers simplejwt's own
        # exp <= now - leeway. A number in a string passed PyJWT's int() but would
        # crash simplejwt (a 500): refuse it.
        if not isinstance(payload["exp"], int | float):
            return _("Token is invalid")
        if self.jti_claim is not None and self.jti_claim not in payload:
            return _("Token has no id")
        if self.token_type_claim is not None:
            if self.token_type_claim not in payload:
                return _("Token has no type")
            if payload[self.token_type_claim] != AccessToken.token_type:
                return _("Token has wrong type")
        return None


_cached_rules: _Rules | None = None


def _rules() -> _Rules:
    global _cached_rules
    if _cached_rules is None:
        _cached_rules = _build_rules()
    return _cached_rules


def _build_rules() -> _Rules:
    # api_settings is looked up on the module: simplejwt replaces it when the setting
    # changes. The key, algorithm, audience, issuer and leeway come from the token
    # backend that signs our tokens, as they do for simplejwt's own checks.
    api_settings = simplejwt_settings.api_settings
    if tuple(api_settings.AUTH_TOKEN_CLASSES) != (AccessToken,):
        raise ImproperlyConfigured(
            "accounts.authentication checks simplejwt's AccessToken only; "
            "SIMPLE_JWT['AUTH_TOKEN_CLASSES'] names other token classes."
        )
    backend = token_backend
    if backend.jwks_client is not None and not backend.algorithm.startswith("HS"):
        raise ImproperlyConfigured(
            "accounts.authentication does not fetch keys per token: "
            "SIMPLE_JWT['JWK_URL'] is not supported."
        )
    if _PK.name != api_settings.USER_ID_FIELD:
        raise ImproperlyConfigured(
            "accounts.authentication looks users up by their primary key: "
            f"SIMPLE_JWT['USER_ID_FIELD'] must be {_PK.name!r}."
        )
    return _Rules(
        decoder=jwt.PyJWT(options={"verify_aud": backend.audience is not None}),
        # What TokenBackend.get_verifying_key returns without a JWKS client.
        key=backend.get_verifying_key(None),  # type: ignore[arg-type]
        algorithms=[backend.algorithm],
        audience=backend.audience,
        issuer=backend.issuer,
        leeway=backend.get_leeway().total_seconds(),
        token_type_claim=api_settings.TOKEN_TYPE_CLAIM,
        jti_claim=api_settings.JTI_CLAIM,
        user_id_claim=api_settings.USER_ID_CLAIM,
        check_user_is_active=bool(api_settings.CHECK_USER_IS_ACTIVE),
        revoke_token_claim=(
            api_settings.REVOKE_TOKEN_CLAIM if api_settings.CHECK_REVOKE_TOKEN else None
        ),
    )


def _forget_rules(*, setting: str, **kwargs: Any) -> None:
    global _cached_rules
    if setting == "SIMPLE_JWT":
        _cached_rules = None


setting_changed.connect(_forget_rules)


# --- the user, in one statement -------------------------------------------------------

Converter = Callable[[Any, Any, Any], Any]
_PK = User._meta.get_field("id")


@dataclass(frozen=True, slots=True)
class _UserStatement:
    """``User.objects.get(pk=…)``'s SQL, compiled once per database alias."""

    sql: str
    attnames: tuple[str, ...]
    # Per column, what the ORM does to a raw value (SQLite's UUIDs, booleans and
    # datetimes); none on PostgreSQL, whose driver returns the Python types.
    converters: Sequence[tuple[int, Sequence[Converter], Any]]


_statements: dict[str, _UserStatement] = {}


def _user_statement(alias: str) -> _UserStatement:
    statement = _statements.get(alias)
    if statement is None:
        statement = _statements[alias] = _compile_user_statement(alias)
    return statement


def _compile_user_statement(alias: str) -> _UserStatement:
    # The ORM writes the SQL (columns, quoting, the pk parameter) once; only the
    # value of the pk changes from one request to the next. No ORDER BY, as get().
    query = User._default_manager.filter(pk=_PK.get_default()).order_by().query
    compiler = query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    columns = [column for column, _sql, _alias in compiler.select]
    attnames = tuple(column.target.attname for column in columns)
    expected = tuple(field.attname for field in User._meta.concrete_fields)
    if len(params) != 1 or attnames != expected:  # pragma: no cover (a Django change)
        raise ImproperlyConfigured(f"Unexpected user query: {sql} {params}")
    converters = [
        (index, tuple(functions), expression)
        for index, (functions, expression) in compiler.get_converters(columns).items()
    ]
    return _UserStatement(sql=sql, attnames=attnames, converters=converters)


def _user_by_id(user_id: Any) -> User | None:
    """``User.objects.get(pk=user_id)`` in one statement; None if there is none.

    Raises ``ValidationError`` for an id the pk field cannot take, as the ORM does.
    """
    pk = _PK.to_python(user_id)
    alias = router.db_for_read(User)
    connection = connections[alias]
    statement = _user_statement(alias)
    with statement_cursor(connection) as cursor:
        cursor.execute(
            statement.sql, [_PK.get_db_prep_value(pk, connection, prepared=True)]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if statement.converters:
        values = list(row)
        for index, functions, expression in statement.converters:
            for convert in functions:
                values[index] = convert(values[index], expression, connection)
        row = values
    return User.from_db(alias, statement.attnames, row)


class JWTAuthenticationScheme(SimpleJWTScheme):
    """OpenAPI: the bearer scheme drf-spectacular documents for simplejwt's class."""

    target_class = "accounts.authentication.JWTAuthentication"
