"""accounts.authentication: simplejwt's verdicts, one PyJWT decode and one SELECT.

The oracle is what the class did before it was rewritten: simplejwt 5.5.1's own
``JWTAuthentication`` (``AccessToken(raw)``, then ``User.objects.get``), with a user
id that is no UUID turned into a 401. Every token below, for every state of its
user, must get the same answer from both, down to the ``code`` and messages.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.test import APIClient
from rest_framework_simplejwt import authentication as simplejwt_authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from accounts import authentication, services
from accounts.authentication import JWTAuthentication
from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from tests.support import revocations
from tests.support.problems import assert_problem
from todos.models import Task

pytestmark = pytest.mark.django_db

TASKS = reverse("todos:task-list")
ME = reverse("accounts:me")


class Reference(simplejwt_authentication.JWTAuthentication):
    """The class before the rewrite: simplejwt's, a non-UUID user id a 401."""

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except ValidationError:
            raise InvalidToken(
                "Token contained no recognizable user identification"
            ) from None


def _request(authorization: str) -> Request:
    return Request(RequestFactory().get(TASKS, HTTP_AUTHORIZATION=authorization))


def _verdict(authenticator: Any, token: str) -> tuple[Any, ...]:
    """What a class makes of a bearer token: the user's row and claims, or the 401."""
    try:
        result = authenticator.authenticate(_request(f"Bearer {token}"))
    except exceptions.APIException as error:
        return ("refused", type(error), error.status_code, error.detail)
    assert result is not None
    user, validated = result
    assert isinstance(validated, AccessToken)
    return ("accepted", _row(user), validated.payload)


def _row(user: User) -> dict[str, Any]:
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


# --- tokens: genuine, forged and malformed ------------------------------------------


@dataclass(frozen=True)
class Minted:
    """A genuine access token's claims, and what can be made of them."""

    user: User

    @property
    def claims(self) -> dict[str, Any]:
        return dict(RefreshToken.for_user(self.user).access_token.payload)

    def signed(self, key: str | None = None, alg: str = "HS256", **changes: Any) -> str:
        """The claims changed (``...`` removes one), signed with the server's key."""
        payload = {**self.claims, **changes}
        payload = {k: v for k, v in payload.items() if v is not ...}
        configured: dict[str, Any] = settings.SIMPLE_JWT
        return jwt.encode(payload, key or configured["SIGNING_KEY"], alg)


def _now() -> int:
    return int(time.time())


def _flip_last(token: str) -> str:
    return token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]


TOKENS: list[Any] = [
    pytest.param(lambda m: str(RefreshToken.for_user(m.user).access_token), id="good"),
    pytest.param(lambda m: m.signed(), id="good-resigned"),
    pytest.param(lambda m: str(RefreshToken.for_user(m.user)), id="refresh-as-access"),
    pytest.param(lambda m: m.signed(token_type="sliding"), id="type-sliding"),
    pytest.param(lambda m: m.signed(token_type=...), id="type-missing"),
    pytest.param(lambda m: m.signed(token_type=None), id="type-null"),
    pytest.param(lambda m: m.signed(exp=_now() - 1), id="expired"),
    pytest.param(lambda m: m.signed(exp=...), id="exp-missing"),
    pytest.param(lambda m: m.signed(exp="tomorrow"), id="exp-not-a-number"),
    pytest.param(lambda m: m.signed(exp=_now() + 60.5), id="exp-a-float"),
    pytest.param(lambda m: m.signed(exp=True), id="exp-a-boolean"),
    pytest.param(lambda m: m.signed(nbf=_now() + 3600), id="nbf-in-future"),
    pytest.param(lambda m: m.signed(iat=_now() + 3600), id="iat-in-future"),
    pytest.param(lambda m: m.signed(iat="x"), id="iat-not-a-number"),
    pytest.param(lambda m: m.signed(jti=...), id="jti-missing"),
    pytest.param(lambda m: m.signed(jti=5), id="jti-not-a-string"),
    pytest.param(lambda m: m.signed(sub=5), id="sub-not-a-string"),
    pytest.param(lambda m: m.signed(aud="someone"), id="aud-unchecked"),
    pytest.param(lambda m: m.signed(iss="someone"), id="iss-unchecked"),
    pytest.param(lambda m: m.signed(hash_password=...), id="password-hash-missing"),
    pytest.param(lambda m: m.signed(hash_password="0" * 32), id="password-hash-wrong"),
    pytest.param(
        lambda m: m.signed(hash_password=m.claims["hash_password"].lower()),
        id="password-hash-lowercase",
    ),
    pytest.param(lambda m: m.signed(user_id=...), id="user-id-missing"),
    pytest.param(lambda m: m.signed(user_id=None), id="user-id-null"),
    pytest.param(lambda m: m.signed(user_id="not-a-uuid"), id="user-id-not-a-uuid"),
    pytest.param(lambda m: m.signed(user_id=""), id="user-id-empty"),
    pytest.param(lambda m: m.signed(user_id=[1]), id="user-id-a-list"),
    pytest.param(lambda m: m.signed(user_id={"id": 1}), id="user-id-an-object"),
    pytest.param(lambda m: m.signed(user_id=1.5), id="user-id-a-float"),
    pytest.param(lambda m: m.signed(user_id=-1), id="user-id-negative"),
    pytest.param(lambda m: m.signed(user_id=m.user.pk.int), id="user-id-as-integer"),
    pytest.param(lambda m: m.signed(user_id=m.user.pk.hex), id="user-id-as-hex"),
    pytest.param(
        lambda m: m.signed(user_id=str(m.user.pk).upper()), id="user-id-uppercase"
    ),
    pytest.param(lambda m: m.signed(user_id=str(uuid.uuid4())), id="user-id-unknown"),
    pytest.param(lambda m: m.signed(key="k" * 48), id="wrong-key"),
    pytest.param(
        lambda m: m.signed(alg="HS512"),
        id="right-key-hs512",
        marks=pytest.mark.filterwarnings(
            "ignore::jwt.warnings.InsecureKeyLengthWarning"
        ),
    ),
    pytest.param(lambda m: _flip_last(m.signed()), id="signature-bit"),
    pytest.param(lambda m: m.signed().rsplit(".", 1)[0] + ".", id="signature-empty"),
    pytest.param(lambda m: jwt.encode(m.claims, "", algorithm="none"), id="alg-none"),
    pytest.param(lambda m: "garbage", id="garbage"),
    pytest.param(lambda m: "e30.e30.e30", id="empty-json"),
]


def _touch_last_login(user: User) -> None:
    """Not a revocation: a column the check does not read changes."""
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())


STATES = [
    pytest.param(None, id="unchanged"),
    pytest.param(_touch_last_login, id="last-login-set"),
    *[pytest.param(p.values[0], id=p.id) for p in revocations.CHANGES],
]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("make", TOKENS)
def test_every_token_gets_simplejwts_verdict_in_every_account_state(
    make: Callable[[Minted], str], state: Callable[[User], None] | None
) -> None:
    user = UserFactory.create()
    token = make(Minted(user))
    if state is not None:
        state(user)

    ours = _verdict(JWTAuthentication(), token)

    assert ours == _verdict(Reference(), token)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("make", TOKENS)
def test_a_token_seen_before_gets_simplejwts_verdict_in_every_account_state(
    make: Callable[[Minted], str], state: Callable[[User], None] | None
) -> None:
    """The same, for a token this process verified already (from its memo)."""
    user = UserFactory.create()
    token = make(Minted(user))
    _verdict(JWTAuthentication(), token)  # seen once, with the account unchanged
    if state is not None:
        state(user)

    ours = _verdict(JWTAuthentication(), token)

    assert ours == _verdict(Reference(), token)


def test_the_verdict_table_both_accepts_and_refuses() -> None:
    """The control for the table: a good token passes, and each refusal is a 401."""
    user = UserFactory.create()
    minted = Minted(user)
    accepted = _verdict(JWTAuthentication(), minted.signed())
    assert accepted[0] == "accepted"
    assert accepted[1]["id"] == user.pk
    for token in [minted.signed(exp=_now() - 1), minted.signed(hash_password="x")]:
        verdict, _, status_code, _ = _verdict(JWTAuthentication(), token)
        assert (verdict, status_code) == ("refused", status.HTTP_401_UNAUTHORIZED)


def test_a_number_in_a_string_for_exp_is_401_where_simplejwt_crashed() -> None:
    """PyJWT takes ``"exp": "<digits>"``; simplejwt then raised a TypeError (a 500)."""
    minted = Minted(UserFactory.create())
    token = minted.signed(exp=str(_now() + 3600))
    with pytest.raises(TypeError):
        Reference().authenticate(_request(f"Bearer {token}"))

    refused = _verdict(JWTAuthentication(), token)

    assert refused[:3] == ("refused", InvalidToken, status.HTTP_401_UNAUTHORIZED)
    assert refused[3]["code"] == "token_not_valid"


def test_the_rules_are_worked_out_again_when_simple_jwt_changes(
    settings: Any,
) -> None:
    minted = Minted(UserFactory.create())
    stale = minted.signed(hash_password="x")
    assert _verdict(JWTAuthentication(), stale)[0] == "refused"

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "CHECK_REVOKE_TOKEN": False}
    assert _verdict(JWTAuthentication(), stale)[0] == "accepted"

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "CHECK_REVOKE_TOKEN": True}
    assert _verdict(JWTAuthentication(), stale)[0] == "refused"


# --- a token is verified once per process ------------------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every PyJWT decode with a key (a verification), as it happens."""
    calls: list[Any] = []
    decode = jwt.PyJWT.decode

    def counted(self: jwt.PyJWT, jwt_: Any, key: Any = "", *a: Any, **kw: Any) -> Any:
        calls.append(jwt_)
        return decode(self, jwt_, key, *a, **kw)

    monkeypatch.setattr(jwt.PyJWT, "decode", counted)
    return calls


def test_a_token_is_verified_once_then_recalled(decodes: list[Any]) -> None:
    user = UserFactory.create()
    token = Minted(user).signed()

    first = _verdict(JWTAuthentication(), token)
    again = _verdict(JWTAuthentication(), token)

    assert first == again
    assert first[0] == "accepted"
    assert len(decodes) == 1


def test_a_refused_token_is_verified_again_every_time(decodes: list[Any]) -> None:
    minted = Minted(UserFactory.create())
    for token in [_flip_last(minted.signed()), minted.signed(exp=_now() - 1)]:
        for _ in range(2):
            assert _verdict(JWTAuthentication(), token)[0] == "refused"
    assert len(decodes) == 4


def test_a_remembered_token_is_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Expiry is checked on every use, with SIMPLE_JWT's leeway, as PyJWT does."""
    minted = Minted(UserFactory.create())
    expires = _now() + 60
    token = minted.signed(exp=expires)
    assert _verdict(JWTAuthentication(), token)[0] == "accepted"
    leeway = authentication._rules().leeway

    monkeypatch.setattr(authentication, "_now", lambda: expires + leeway - 0.5)
    assert _verdict(JWTAuthentication(), token)[0] == "accepted"

    monkeypatch.setattr(authentication, "_now", lambda: expires + leeway)
    refused = _verdict(JWTAuthentication(), token)
    assert refused[:3] == ("refused", InvalidToken, status.HTTP_401_UNAUTHORIZED)
    assert refused[3]["messages"][0]["message"] == "Token is expired"
    assert not authentication._rules().knows(token.encode())


def test_the_claims_handed_out_are_a_copy(decodes: list[Any]) -> None:
    token = Minted(UserFactory.create()).signed()
    verified = JWTAuthentication().get_validated_token(token.encode())
    recalled = JWTAuthentication().get_validated_token(token.encode())
    for validated in (verified, recalled):
        validated.payload["user_id"] = str(uuid.uuid4())

        again = JWTAuthentication().get_validated_token(token.encode())

        assert again.payload["user_id"] != validated.payload["user_id"]
    assert len(decodes) == 1


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authentication, "VERIFIED_TOKENS_KEPT", 3)
    minted = Minted(UserFactory.create())
    for n in range(7):
        token = minted.signed(jti=f"token-{n}")
        assert _verdict(JWTAuthentication(), token)[0] == "accepted"
        assert len(authentication._rules().verified) <= 3


def test_the_memo_is_emptied_when_simple_jwt_changes(settings: Any) -> None:
    token = Minted(UserFactory.create()).signed()
    assert _verdict(JWTAuthentication(), token)[0] == "accepted"
    assert authentication._rules().knows(token.encode())

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 1}

    assert not authentication._rules().knows(token.encode())


# --- the accepted path: a whole user, in one statement ------------------------------


def test_the_user_is_read_in_one_statement_with_every_column(
    django_assert_num_queries: Any,
) -> None:
    user = UserFactory.create(is_staff=True)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    token = str(RefreshToken.for_user(user).access_token)

    with CaptureQueriesContext(connection) as queries:
        result = JWTAuthentication().authenticate(_request(f"Bearer {token}"))

    assert result is not None
    authenticated, _ = result
    (query,) = queries.captured_queries
    assert '"accounts_user"' in query["sql"]
    assert "ORDER BY" not in query["sql"]
    assert authenticated.get_deferred_fields() == set()
    with django_assert_num_queries(0):
        row = _row(authenticated)
        assert authenticated.email == user.email
        assert authenticated.date_joined == user.date_joined
    assert row == _row(User.objects.get(pk=user.pk))
    assert isinstance(row["id"], uuid.UUID)
    assert row["is_staff"] is True
    assert row["last_login"].utcoffset() == timedelta(0)
    assert authenticated._state.adding is False
    assert authenticated._state.db == "default"


def test_the_authenticated_user_can_be_saved_as_a_loaded_one(user: User) -> None:
    """A profile change through /me updates the row the check read: no insert."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")

    response = client.patch(ME, {"name": "Renamed"})

    assert response.status_code == status.HTTP_200_OK, response.content
    assert User.objects.get(pk=user.pk).name == "Renamed"
    assert User.objects.count() == 1


def test_a_list_request_is_the_user_statement_and_the_page() -> None:
    """On PostgreSQL the page carries the user check (api.scoping's fold): one
    statement; elsewhere the user's row is read first, on its own."""
    user = UserFactory.create()
    TaskFactory.create_batch(3, owner=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(TASKS)

    assert response.status_code == status.HTTP_200_OK
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        (page_sql,) = statements
        assert 'FROM "todos_task"' in page_sql
        assert 'EXISTS(SELECT 1 AS "a" FROM "accounts_user"' in page_sql
        assert 'UPPER(MD5(U0."password"))' in page_sql
    else:
        user_sql, page_sql = statements
        assert 'FROM "accounts_user"' in user_sql
        assert 'FROM "todos_task"' in page_sql
        assert "accounts_user" not in page_sql


# --- the race: the account changes between the token and the request ----------------


def _access(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


@dataclass(frozen=True)
class Call:
    method: str
    url: Callable[[Task], str]
    body: dict[str, Any] | None
    ok: int


def _detail(task: Task) -> str:
    return reverse("todos:task-detail", args=[task.pk])


CALLS = [
    pytest.param(Call("get", lambda t: TASKS, None, 200), id="list"),
    pytest.param(Call("get", _detail, None, 200), id="detail"),
    pytest.param(Call("post", lambda t: TASKS, {"title": "New"}, 201), id="create"),
    pytest.param(Call("patch", _detail, {"title": "Changed"}, 200), id="patch"),
    pytest.param(Call("delete", _detail, None, 204), id="delete"),
    pytest.param(
        Call(
            "post",
            lambda t: reverse("todos:task-complete", args=[t.pk]),
            None,
            200,
        ),
        id="complete",
    ),
]


def _database() -> tuple[list[Any], list[Any]]:
    """Every user and task row, in full: what a refused request must not change."""
    users = list(User.objects.order_by("pk").values_list())
    tasks = list(Task.objects.order_by("pk").values_list())
    return users, tasks


def _send(client: APIClient, call: Call, task: Task) -> Any:
    send = getattr(client, call.method)
    if call.body is None:
        return send(call.url(task))
    return send(call.url(task), call.body, format="json")


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(("change", "code"), revocations.CHANGES)
def test_a_token_is_refused_on_the_next_request_after_the_account_changed(
    call: Call, change: Callable[[User], None], code: str
) -> None:
    user = UserFactory.create()
    task = TaskFactory.create(owner=user, title="Kept")
    TaskFactory.create(title="Someone else's")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    assert client.get(TASKS).status_code == status.HTTP_200_OK
    change(user)
    before = _database()

    response = _send(client, call, task)

    assert_problem(response, status.HTTP_401_UNAUTHORIZED, code)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert _database() == before


@pytest.mark.parametrize("call", CALLS)
def test_the_same_request_with_the_account_unchanged_succeeds(call: Call) -> None:
    """The control for the race table: each request is one that would be served."""
    user = UserFactory.create()
    task = TaskFactory.create(owner=user, title="Kept")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    assert client.get(TASKS).status_code == status.HTTP_200_OK
    before = _database()

    response = _send(client, call, task)

    assert response.status_code == call.ok, response.content
    assert (_database() == before) is (call.method == "get")


def test_a_new_token_after_a_password_change_works(user: User) -> None:
    old = _access(user)
    services.user_change_password(user=user, new_password=revocations.NEW_PASSWORD)
    user.refresh_from_db()

    new = APIClient()
    new.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old}")

    assert new.get(TASKS).status_code == status.HTTP_200_OK
    assert_problem(stale.get(TASKS), status.HTTP_401_UNAUTHORIZED, "password-changed")


def test_a_reactivated_user_is_served_again(user: User) -> None:
    """Nothing remembers a refusal either: the row is read on every request."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_access(user)}")
    revocations.deactivate(user)
    assert_problem(client.get(TASKS), status.HTTP_401_UNAUTHORIZED, "user-inactive")

    User.objects.filter(pk=user.pk).update(is_active=True)

    assert client.get(TASKS).status_code == status.HTTP_200_OK
