"""The account endpoints: registration, tokens, rotation, profile, password, limits."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework import status
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, TaskFactory, UserFactory
from tests.support.races import race
from todos.models import Task

pytestmark = pytest.mark.django_db

REGISTER = reverse("accounts:register")
TOKEN = reverse("accounts:token")
REFRESH = reverse("accounts:token-refresh")
LOGOUT = reverse("accounts:logout")
ME = reverse("accounts:me")
PASSWORD = reverse("accounts:password")
TASKS = reverse("todos:task-list")

STRONG_PASSWORD = "Tr0ub4dor&3-zebra-quilt"
PROBLEM = "application/problem+json"
TOO_SHORT = "This password is too short. It must contain at least 8 characters."
TOO_COMMON = "This password is too common."
NUMERIC = "This password is entirely numeric."
TOO_SIMILAR = "The password is too similar to the email address."


def _errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response["Content-Type"] == PROBLEM
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def _error(field: str, message: str, code: str) -> dict[str, str]:
    return {"field": field, "pointer": f"/{field}", "message": message, "code": code}


def _obtain(email: str, password: str = DEFAULT_PASSWORD, **extra: Any) -> Any:
    return APIClient().post(TOKEN, {"email": email, "password": password}, **extra)


def _pair(user: User, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = _obtain(user.email, password)
    assert response.status_code == status.HTTP_200_OK
    return response.json()


def _refresh(raw: str, **extra: Any) -> Any:
    return APIClient().post(REFRESH, {"refresh": raw}, **extra)


def _client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def _utc(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == status.HTTP_401_UNAUTHORIZED


# --- register -----------------------------------------------------------------------


def test_register_returns_201_with_exactly_the_profile(api_client):
    response = api_client.post(
        REGISTER,
        {"email": "Ada@Example.COM", "password": STRONG_PASSWORD, "name": "Ada"},
    )

    assert response.status_code == status.HTTP_201_CREATED
    user = User.objects.get()
    assert response.json() == {
        "id": str(user.pk),
        "email": "Ada@example.com",
        "name": "Ada",
        "date_joined": _utc(user.date_joined),
    }
    assert user.check_password(STRONG_PASSWORD)
    assert STRONG_PASSWORD not in response.content.decode()


def test_a_registered_user_can_log_in_with_the_password_they_chose(api_client):
    api_client.post(REGISTER, {"email": "bo@example.com", "password": STRONG_PASSWORD})
    assert _obtain("bo@example.com", STRONG_PASSWORD).status_code == status.HTTP_200_OK


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("new@example.com", "Xy7!q", TOO_SHORT),
        ("new@example.com", "password", TOO_COMMON),
        ("new@example.com", "qwertyuiop", TOO_COMMON),
        ("new@example.com", "8675309123456", NUMERIC),
        ("marguerite.holloway@example.com", "marguerite.holloway", TOO_SIMILAR),
        ("marguerite.holloway@example.com", "holloway-marguerite", TOO_SIMILAR),
    ],
)
def test_register_applies_the_django_password_validators(
    api_client, email, password, message
):
    response = api_client.post(REGISTER, {"email": email, "password": password})

    assert [field for field, _ in _errors(response)] == ["password"]
    (error,) = response.json()["errors"]
    assert (error["pointer"], error["message"]) == ("/password", message)
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "email", ["taken@example.com", "TAKEN@EXAMPLE.COM", "Taken@Example.com"]
)
def test_register_with_an_email_taken_in_any_letter_case_is_400_unique(
    api_client, email
):
    UserFactory.create(email="taken@example.com")
    response = api_client.post(REGISTER, {"email": email, "password": STRONG_PASSWORD})

    assert _errors(response) == [("email", "unique")]
    assert response.json()["errors"] == [
        _error("email", "A user with this email address already exists.", "unique")
    ]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"email": "someone@"}, "email", "invalid"),
        ({"email": "@example.com"}, "email", "invalid"),
        ({"email": ""}, "email", "blank"),
        ({"email": None}, "email", "null"),
        ({"email": "x" * 250 + "@example.com"}, "email", "max_length"),
        ({"name": "x" * 151}, "name", "max_length"),
        ({"password": None}, "password", "null"),
        ({"is_staff": True}, "is_staff", "unknown_field"),
        ({"is_superuser": True}, "is_superuser", "unknown_field"),
        ({"username": "ada"}, "username", "unknown_field"),
    ],
)
def test_register_rejects_invalid_fields_by_name(api_client, payload, field, code):
    body = {"email": "new@example.com", "password": STRONG_PASSWORD, **payload}
    response = api_client.post(REGISTER, body)

    assert _errors(response) == [(field, code)]
    assert not User.objects.exists()


def test_register_with_a_name_of_150_characters_is_fine(api_client):
    response = api_client.post(
        REGISTER,
        {"email": "long@example.com", "password": STRONG_PASSWORD, "name": "x" * 150},
    )
    assert response.status_code == status.HTTP_201_CREATED


def test_register_without_email_and_password_names_both(api_client):
    assert _errors(api_client.post(REGISTER, {})) == [
        ("email", "required"),
        ("password", "required"),
    ]


# --- token --------------------------------------------------------------------------


def test_token_returns_exactly_an_access_and_a_refresh_token(user):
    response = _obtain(user.email)

    assert response.status_code == status.HTTP_200_OK
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert AccessToken(body["access"])["user_id"] == str(user.pk)
    assert RefreshToken(body["refresh"])["user_id"] == str(user.pk)


def test_token_matches_the_email_in_any_letter_case(user):
    assert _obtain(user.email.upper()).status_code == status.HTTP_200_OK
    assert _obtain(user.email.title()).status_code == status.HTTP_200_OK


@pytest.mark.parametrize(
    ("email", "password", "active"),
    [
        ("login@example.com", "wrong-password-entirely", True),
        ("nobody@example.com", DEFAULT_PASSWORD, True),
        ("login@example.com", DEFAULT_PASSWORD, False),
    ],
    ids=["wrong-password", "unknown-email", "inactive-user"],
)
def test_token_refuses_bad_credentials_with_401_and_a_bearer_challenge(
    email, password, active
):
    UserFactory.create(email="login@example.com", is_active=active)
    response = _obtain(email, password)

    _assert_unauthorized(response)
    assert response.json() == {
        "type": "urn:taskapi:problem:no-active-account",
        "title": "Unauthorized",
        "status": 401,
        "detail": "No active account found with the given credentials",
    }


def test_token_with_a_blank_password_is_400(user):
    assert _errors(_obtain(user.email, "")) == [("password", "blank")]


def test_token_refuses_unknown_fields(user):
    response = APIClient().post(
        TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD, "otp": "1"}
    )
    assert _errors(response) == [("otp", "unknown_field")]


def test_the_access_token_from_the_token_endpoint_opens_me(user):
    response = _client(_pair(user)["access"]).get(ME)

    assert response.status_code == status.HTTP_200_OK
    assert response.json()["id"] == str(user.pk)


# --- token lifetimes and signing ----------------------------------------------------


def _jwt_setting(name: str) -> Any:
    configured: dict[str, Any] = settings.SIMPLE_JWT
    return configured[name]


def test_access_tokens_live_at_most_15_minutes_and_refresh_tokens_7_days(user):
    pair = _pair(user)
    access = AccessToken(pair["access"])  # type: ignore[arg-type]
    refresh = RefreshToken(pair["refresh"])  # type: ignore[arg-type]

    assert 0 < access["exp"] - access["iat"] <= 15 * 60
    assert 0 < refresh["exp"] - refresh["iat"] <= 7 * 24 * 60 * 60
    assert _jwt_setting("ACCESS_TOKEN_LIFETIME") <= datetime.timedelta(minutes=15)
    assert _jwt_setting("REFRESH_TOKEN_LIFETIME") <= datetime.timedelta(days=7)


def test_tokens_are_signed_with_their_own_key_not_the_secret_key(user):
    key = _jwt_setting("SIGNING_KEY")
    assert key != settings.SECRET_KEY
    assert len(key.encode()) >= 32

    access = _pair(user)["access"]
    assert jwt.decode(access, key, algorithms=["HS256"])["user_id"] == str(user.pk)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(access, settings.SECRET_KEY, algorithms=["HS256"])


def test_public_endpoints_ignore_a_stale_authorization_header(user):
    stale: dict[str, Any] = {"HTTP_AUTHORIZATION": "Bearer expired.or.garbage"}
    registered = APIClient().post(
        REGISTER, {"email": "new@example.com", "password": STRONG_PASSWORD}, **stale
    )
    assert registered.status_code == status.HTTP_201_CREATED
    token = _obtain(user.email, **stale)
    assert token.status_code == status.HTTP_200_OK
    assert _refresh(token.json()["refresh"], **stale).status_code == 200


# --- token/refresh ------------------------------------------------------------------


def test_refresh_returns_a_new_working_pair(user):
    old = _pair(user)
    response = _refresh(old["refresh"])

    assert response.status_code == status.HTTP_200_OK
    new = response.json()
    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != old["refresh"]
    assert new["access"] != old["access"]
    me = _client(new["access"]).get(ME)
    assert me.status_code == status.HTTP_200_OK
    assert me.json()["id"] == str(user.pk)


def test_refresh_rotates_each_refresh_token_works_exactly_once(user):
    first = _pair(user)["refresh"]
    second = _refresh(first).json()["refresh"]

    _assert_unauthorized(_refresh(first))
    response = _refresh(second)
    assert response.status_code == status.HTTP_200_OK
    _assert_unauthorized(_refresh(second))
    # The pair issued by that last rotation is unaffected by the replays.
    assert _refresh(response.json()["refresh"]).status_code == status.HTTP_200_OK


def test_refresh_with_a_missing_or_empty_token_is_400():
    assert _errors(APIClient().post(REFRESH, {})) == [("refresh", "required")]
    assert _errors(_refresh("")) == [("refresh", "blank")]


# --- concurrent refreshes (PostgreSQL) ----------------------------------------------


def _register(email: str, address: str) -> Any:
    return APIClient().post(
        REGISTER, {"email": email, "password": STRONG_PASSWORD}, REMOTE_ADDR=address
    )


def _refresh_from(raw: str, address: str) -> Callable[[], Any]:
    # Each caller has its own client and its own address, so that the per-IP
    # throttle on token/refresh never decides the race.
    return lambda: APIClient().post(REFRESH, {"refresh": raw}, REMOTE_ADDR=address)


@pytest.mark.postgres(reason="SQLite serialises writers; the race needs real ones")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("callers", "trials"), [(2, 20), (50, 10)])
def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    user, callers, trials
):
    # 50 callers hold 50 connections at once: through PgBouncer (a pool of 10) most
    # of them queue for a server connection, and still exactly one wins.
    for trial in range(trials):
        raw = str(RefreshToken.for_user(user))
        responses = race(
            [_refresh_from(raw, f"10.{callers}.{trial}.{i}") for i in range(callers)]
        )

        codes = sorted(r.status_code for r in responses)
        assert codes == [200] + [401] * (callers - 1), f"trial {trial}: {codes}"
        (winner,) = [r for r in responses if r.status_code == status.HTTP_200_OK]
        for loser in (r for r in responses if r is not winner):
            assert loser.json()["type"] == "urn:taskapi:problem:token-not-valid"
        again = _refresh(winner.json()["refresh"], REMOTE_ADDR=f"10.99.{trial}.1")
        assert again.status_code == status.HTTP_200_OK, f"trial {trial}"


@pytest.mark.postgres(reason="SQLite serialises writers; the race needs real ones")
@pytest.mark.django_db(transaction=True)
def test_a_logout_racing_a_refresh_of_the_same_token_lets_only_one_win(user):
    for trial in range(10):
        pair = _pair(user)
        logout = _client(pair["access"])
        responses = race(
            [
                partial(logout.post, LOGOUT, {"refresh": pair["refresh"]}),
                _refresh_from(pair["refresh"], f"10.98.{trial}.1"),
            ]
        )

        codes = [r.status_code for r in responses]
        assert codes in ([204, 401], [400, 200]), f"trial {trial}: {codes}"


@pytest.mark.postgres(reason="SQLite serialises writers; the race needs real ones")
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_email_in_two_cases_create_one_user():
    for trial in range(10):
        emails = [f"race{trial}@example.com", f"RACE{trial}@example.com"]
        responses = race(
            [partial(_register, e, f"10.97.{trial}.{i}") for i, e in enumerate(emails)]
        )

        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 400], f"trial {trial}: {codes}"
        (loser,) = [r for r in responses if r.status_code == 400]
        assert _errors(loser) == [("email", "unique")]
        assert User.objects.with_email(emails[0]).count() == 1


@pytest.mark.postgres(reason="SQLite serialises writers; the race needs real ones")
@pytest.mark.django_db(transaction=True)
def test_two_users_racing_for_one_email_in_two_cases_leave_one_owner(user, other_user):
    clients = [_client(_pair(user)["access"]), _client(_pair(other_user)["access"])]
    for trial in range(10):
        emails = [f"shared{trial}@example.com", f"Shared{trial}@EXAMPLE.com"]
        responses = race(
            [
                partial(client.patch, ME, {"email": email})
                for client, email in zip(clients, emails, strict=True)
            ]
        )

        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 400], f"trial {trial}: {codes}"
        (loser,) = [r for r in responses if r.status_code == 400]
        assert _errors(loser) == [("email", "unique")]
        assert User.objects.with_email(emails[0]).count() == 1


# --- logout -------------------------------------------------------------------------


def test_logout_is_204_and_the_refresh_token_stops_working(user):
    pair = _pair(user)
    response = _client(pair["access"]).post(LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == status.HTTP_204_NO_CONTENT
    assert response.content == b""
    _assert_unauthorized(_refresh(pair["refresh"]))


def test_logout_leaves_the_users_other_sessions_alone(user):
    phone, laptop = _pair(user), _pair(user)
    _client(phone["access"]).post(LOGOUT, {"refresh": phone["refresh"]})

    assert _refresh(laptop["refresh"]).status_code == status.HTTP_200_OK


def test_logout_with_another_users_refresh_token_is_400_and_revokes_nothing(
    user, other_user
):
    mine, theirs = _pair(user), _pair(other_user)
    response = _client(mine["access"]).post(LOGOUT, {"refresh": theirs["refresh"]})

    assert _errors(response) == [("refresh", "token_not_valid")]
    assert _refresh(theirs["refresh"]).status_code == status.HTTP_200_OK


@pytest.mark.parametrize(
    ("payload", "code"),
    [({}, "required"), ({"refresh": "garbage"}, "token_not_valid")],
)
def test_logout_with_a_missing_or_invalid_refresh_token_is_400(user, payload, code):
    access = _pair(user)["access"]
    assert _errors(_client(access).post(LOGOUT, payload)) == [("refresh", code)]


def test_logout_twice_with_the_same_refresh_token_is_400_the_second_time(user):
    pair = _pair(user)
    client = _client(pair["access"])
    first = client.post(LOGOUT, {"refresh": pair["refresh"]})
    assert first.status_code == status.HTTP_204_NO_CONTENT
    assert _errors(client.post(LOGOUT, {"refresh": pair["refresh"]})) == [
        ("refresh", "token_not_valid")
    ]


def test_logout_requires_authentication(user):
    pair = _pair(user)
    response = APIClient().post(LOGOUT, {"refresh": pair["refresh"]})

    _assert_unauthorized(response)
    assert _refresh(pair["refresh"]).status_code == status.HTTP_200_OK


# --- me -----------------------------------------------------------------------------


def test_me_returns_the_callers_profile(auth_client, user):
    response = auth_client.get(ME)

    assert response.status_code == status.HTTP_200_OK
    assert response.json() == {
        "id": str(user.pk),
        "email": user.email,
        "name": user.name,
        "date_joined": _utc(user.date_joined),
    }


def test_me_requires_authentication():
    _assert_unauthorized(APIClient().get(ME))


def test_patch_me_changes_the_name(auth_client, user):
    response = auth_client.patch(ME, {"name": "Grace Hopper"})

    assert response.status_code == status.HTTP_200_OK
    assert response.json() == {
        "id": str(user.pk),
        "email": user.email,
        "name": "Grace Hopper",
        "date_joined": _utc(user.date_joined),
    }
    assert User.objects.get(pk=user.pk).name == "Grace Hopper"


def test_patch_me_changes_the_email_and_the_new_one_logs_in(auth_client, user):
    response = auth_client.patch(ME, {"email": "fresh@Example.ORG"})

    assert response.status_code == status.HTTP_200_OK
    assert response.json()["email"] == "fresh@example.org"
    assert User.objects.get(pk=user.pk).email == "fresh@example.org"
    assert _obtain("FRESH@example.org").status_code == status.HTTP_200_OK


def test_patch_me_to_an_email_another_user_has_in_another_case_is_400(
    auth_client, user, other_user
):
    response = auth_client.patch(ME, {"email": other_user.email.upper()})

    assert response.json()["errors"] == [
        _error("email", "A user with this email address already exists.", "unique")
    ]
    assert _errors(response) == [("email", "unique")]
    assert User.objects.get(pk=user.pk).email == user.email


def test_patch_me_changing_only_the_case_of_the_own_email_works(auth_client, user):
    recased = user.email.split("@")[0].upper() + "@" + user.email.split("@")[1]
    response = auth_client.patch(ME, {"email": recased})

    assert response.status_code == status.HTTP_200_OK
    assert response.json()["email"] == recased
    assert User.objects.get(pk=user.pk).email == recased


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"is_staff": True}, "is_staff", "unknown_field"),
        ({"password": "x"}, "password", "unknown_field"),
        ({"nmae": "typo"}, "nmae", "unknown_field"),
        ({"email": "nope"}, "email", "invalid"),
        ({"email": ""}, "email", "blank"),
        ({"name": "x" * 151}, "name", "max_length"),
    ],
)
def test_patch_me_rejects_invalid_and_unknown_fields(
    auth_client, user, payload, field, code
):
    response = auth_client.patch(ME, payload)

    assert _errors(response) == [(field, code)]
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.email, fresh.name, fresh.is_staff) == (user.email, user.name, False)


def test_patch_me_ignores_read_only_fields_echoed_back(auth_client, user):
    response = auth_client.patch(
        ME, {"id": "00000000-0000-0000-0000-000000000000", "date_joined": "2000-01-01"}
    )
    assert response.status_code == status.HTTP_200_OK
    assert response.json()["id"] == str(user.pk)
    assert User.objects.get(pk=user.pk).date_joined == user.date_joined


def test_delete_me_with_the_password_removes_the_user_and_all_their_tasks(
    user, other_user
):
    access = _pair(user)["access"]
    TaskFactory.create_batch(3, owner=user)
    theirs = TaskFactory.create_batch(2, owner=other_user)
    client = _client(access)

    response = client.delete(ME, {"password": DEFAULT_PASSWORD})

    assert response.status_code == status.HTTP_204_NO_CONTENT
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Task.objects.filter(owner_id=user.pk).exists()
    assert set(Task.objects.values_list("pk", flat=True)) == {t.pk for t in theirs}
    _assert_unauthorized(client.get(ME))
    _assert_unauthorized(client.get(TASKS))
    _assert_unauthorized(_obtain(user.email))


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"password": "not-my-password"}, "wrong_password"),
        ({"password": ""}, "blank"),
        (None, "required"),
        ({}, "required"),
    ],
    ids=["wrong-password", "blank-password", "no-body", "empty-body"],
)
def test_delete_me_without_the_right_password_is_400_and_deletes_nothing(
    auth_client, user, payload, code
):
    TaskFactory.create(owner=user)
    response = auth_client.delete(ME, payload)

    assert _errors(response) == [("password", code)]
    assert User.objects.filter(pk=user.pk).exists()
    assert Task.objects.filter(owner=user).count() == 1


# --- password -----------------------------------------------------------------------


def test_password_change_revokes_every_earlier_token_and_the_new_one_logs_in(user):
    first, second = _pair(user), _pair(user)
    client = _client(first["access"])

    response = client.post(
        PASSWORD,
        {"current_password": DEFAULT_PASSWORD, "new_password": STRONG_PASSWORD},
    )

    assert response.status_code == status.HTTP_204_NO_CONTENT
    _assert_unauthorized(_refresh(first["refresh"]))
    _assert_unauthorized(_refresh(second["refresh"]))
    _assert_unauthorized(client.get(ME))
    _assert_unauthorized(_client(second["access"]).get(TASKS))
    _assert_unauthorized(_obtain(user.email, DEFAULT_PASSWORD))
    fresh = _pair(user, STRONG_PASSWORD)
    assert _client(fresh["access"]).get(ME).status_code == status.HTTP_200_OK
    assert _refresh(fresh["refresh"]).status_code == status.HTTP_200_OK


def test_password_change_with_a_wrong_current_password_is_400(auth_client, user):
    response = auth_client.post(
        PASSWORD, {"current_password": "guess-guess", "new_password": STRONG_PASSWORD}
    )

    assert response.json()["errors"] == [
        _error("current_password", "The current password is wrong.", "wrong_password")
    ]
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("Xy7!q", TOO_SHORT),
        ("password", TOO_COMMON),
        ("8675309123456", NUMERIC),
    ],
)
def test_password_change_to_a_weak_password_is_400(
    auth_client, user, new_password, message
):
    response = auth_client.post(
        PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": new_password}
    )

    assert [f for f, _ in _errors(response)] == ["new_password"]
    assert response.json()["errors"][0]["message"] == message
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


def test_password_change_to_one_like_the_email_is_400():
    user = UserFactory.create(email="marguerite.holloway@example.com")
    response = _client(_pair(user)["access"]).post(
        PASSWORD,
        {"current_password": DEFAULT_PASSWORD, "new_password": "holloway-marguerite"},
    )

    assert [f for f, _ in _errors(response)] == ["new_password"]
    assert response.json()["errors"][0]["message"] == TOO_SIMILAR


def test_password_change_requires_authentication():
    _assert_unauthorized(
        APIClient().post(
            PASSWORD,
            {"current_password": DEFAULT_PASSWORD, "new_password": STRONG_PASSWORD},
        )
    )


# --- throttling ---------------------------------------------------------------------


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Lower some throttle rates for one test.

    DRF copies the rates onto ``SimpleRateThrottle`` at import, so overriding the
    setting alone would change nothing.
    """

    def lower(**scopes: str) -> None:
        table = {**api_settings.DEFAULT_THROTTLE_RATES, **scopes}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", table)

    return lower


def _assert_throttled(response: Any) -> None:
    assert response.status_code == status.HTTP_429_TOO_MANY_REQUESTS
    assert response["Content-Type"] == PROBLEM
    assert 0 < int(response["Retry-After"]) <= 60
    body = response.json()
    assert re.fullmatch(
        r"Request was throttled\. Expected available in \d+ seconds?\.",
        body.pop("detail"),
    )
    assert body == {
        "type": "urn:taskapi:problem:throttled",
        "title": "Too Many Requests",
        "status": 429,
    }


def test_token_is_throttled_per_email_whatever_the_ip_or_letter_case(
    rates, user, other_user
):
    rates(login_email="3/min", login_ip="100/min")
    for i, email in enumerate([user.email, user.email.upper(), user.email.title()]):
        response = _obtain(email, "wrong-password", REMOTE_ADDR=f"10.0.0.{i}")
        assert response.status_code == status.HTTP_401_UNAUTHORIZED

    # Even the right password is refused now, from yet another address.
    _assert_throttled(_obtain(user.email, REMOTE_ADDR="10.0.0.9"))
    assert _obtain(other_user.email, REMOTE_ADDR="10.0.0.9").status_code == 200


def test_token_is_throttled_per_ip_whatever_the_email(rates, user):
    rates(login_ip="3/min", login_email="100/min")
    for i in range(3):
        response = _obtain(f"nobody{i}@example.com", REMOTE_ADDR="10.0.1.1")
        assert response.status_code == status.HTTP_401_UNAUTHORIZED

    _assert_throttled(_obtain(user.email, REMOTE_ADDR="10.0.1.1"))
    assert _obtain(user.email, REMOTE_ADDR="10.0.1.2").status_code == 200


def test_token_refresh_is_throttled_per_ip(rates, user):
    rates(login_ip="2/min")
    for _ in range(2):
        _assert_unauthorized(_refresh("garbage", REMOTE_ADDR="10.0.2.1"))

    raw = _pair(user)["refresh"]
    _assert_throttled(_refresh(raw, REMOTE_ADDR="10.0.2.1"))
    assert _refresh(raw, REMOTE_ADDR="10.0.2.2").status_code == status.HTTP_200_OK


def test_register_is_throttled_per_ip(rates):
    rates(register_ip="3/min", register_email="100/min")
    for i in range(3):
        response = _register(f"person{i}@example.com", "10.0.3.1")
        assert response.status_code == status.HTTP_201_CREATED

    _assert_throttled(_register("late@example.com", "10.0.3.1"))
    assert not User.objects.filter(email="late@example.com").exists()
    assert _register("late@example.com", "10.0.3.2").status_code == 201


def test_register_is_throttled_per_email_whatever_the_ip_or_letter_case(rates):
    rates(register_email="3/min", register_ip="100/min")
    codes = [
        _register(email, f"10.0.4.{i}").status_code
        for i, email in enumerate(
            ["target@example.com", "TARGET@example.com", "Target@Example.com"]
        )
    ]
    assert codes == [201, 400, 400]

    _assert_throttled(_register("target@EXAMPLE.com", "10.0.4.9"))
    assert _register("bystander@example.com", "10.0.4.9").status_code == 201


def test_authenticated_endpoints_are_throttled_per_user(
    rates, auth_client, other_client
):
    rates(user="3/min")
    for _ in range(3):
        assert auth_client.get(ME).status_code == status.HTTP_200_OK

    _assert_throttled(auth_client.get(TASKS))
    # Same address (the test client's), another user: not throttled.
    assert other_client.get(ME).status_code == status.HTTP_200_OK
    assert other_client.get(TASKS).status_code == status.HTTP_200_OK


def test_a_forged_x_forwarded_for_does_not_escape_the_ip_throttle(rates, user):
    rates(login_ip="2/min", login_email="100/min")
    for i in range(2):
        response = _obtain(
            f"nobody{i}@example.com",
            REMOTE_ADDR="10.0.5.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
        assert response.status_code == status.HTTP_401_UNAUTHORIZED

    _assert_throttled(
        _obtain(user.email, REMOTE_ADDR="10.0.5.1", HTTP_X_FORWARDED_FOR="192.0.2.9")
    )


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1-xyz", "password_too_short"),
        ("password123", "password_too_common"),
        ("8406231957318", "password_entirely_numeric"),
    ],
)
def test_password_rules_keep_djangos_error_codes(api_client, password, code):
    response = api_client.post(
        reverse("accounts:register"),
        {"email": "codes@example.com", "password": password},
    )
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert code in {e["code"] for e in response.json()["errors"]}
