"""Better Auth tokens on /api/v1/, beside our own tokens, never mistaken for them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from betterauth.models import ExternalIdentity
from tests.support.betterauth import HS_SECRET, SigningKey
from tests.support.problems import assert_problem

pytestmark = pytest.mark.django_db

TASKS = reverse("todos:task-list")
ME = reverse("accounts:me")


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_better_auth_user_uses_the_v1_api_as_a_local_user(better_auth):
    client = _client(better_auth.token("ba-1", name="Ada"))

    created = client.post(TASKS, {"title": "from the front end"}, format="json")
    listed = client.get(TASKS)
    me = client.get(ME)

    assert created.status_code == status.HTTP_201_CREATED, created.content
    assert [t["title"] for t in listed.json()["results"]] == ["from the front end"]
    identity = ExternalIdentity.objects.get(subject="ba-1")
    assert me.json()["id"] == str(identity.user_id)
    assert me.json()["name"] == "Ada"


def test_our_own_tokens_keep_working_beside_better_auth(better_auth, user):
    response = _client(str(AccessToken.for_user(user))).get(ME)
    assert response.status_code == status.HTTP_200_OK
    assert response.json()["email"] == user.email
    assert not ExternalIdentity.objects.exists()


def test_better_auth_tokens_are_refused_while_better_auth_is_off(better_auth, settings):
    settings.BETTER_AUTH_ENABLED = False
    response = _client(better_auth.token("ba-1")).get(ME)
    assert_problem(response, status.HTTP_401_UNAUTHORIZED)
    assert not User.objects.exists()


def test_a_deactivated_local_user_is_refused_with_a_valid_token(better_auth):
    token = better_auth.token("ba-1")
    assert _client(token).get(ME).status_code == status.HTTP_200_OK
    User.objects.update(is_active=False)

    response = _client(token).get(ME)

    assert_problem(response, status.HTTP_401_UNAUTHORIZED)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda i: i.token("ba-1", iss="https://evil.example"), id="iss"),
        pytest.param(lambda i: i.token("ba-1", aud="https://evil.example"), id="aud"),
        pytest.param(lambda i: i.token("ba-1", exp=1, iat=0), id="expired"),
        pytest.param(lambda i: i.token("ba-1", key=SigningKey("EdDSA")), id="kid"),
        pytest.param(lambda i: i.hs256_token("ba-1"), id="hs256-off"),
        pytest.param(
            lambda i: i.token("ba-1", token_type="access", user_id="x"), id="ours-shape"
        ),
    ],
)
def test_forged_better_auth_tokens_are_a_401_on_v1_and_make_no_user(better_auth, forge):
    response = _client(forge(better_auth)).get(TASKS)
    assert_problem(response, status.HTTP_401_UNAUTHORIZED)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not User.objects.exists()


def test_a_better_auth_token_signed_with_our_key_is_refused(better_auth, settings):
    """HS256 with JWT_SIGNING_KEY and Better Auth's claims: neither class takes it."""
    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", "HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    token = better_auth.hs256_token("ba-1", secret=settings.SIMPLE_JWT["SIGNING_KEY"])
    assert_problem(_client(token).get(ME), status.HTTP_401_UNAUTHORIZED)
    assert not User.objects.exists()


def test_a_token_of_ours_signed_with_the_better_auth_secret_is_refused(
    better_auth, settings, user
):
    import jwt

    settings.BETTER_AUTH_ALGORITHMS = ["EdDSA", "HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    payload = dict(AccessToken.for_user(user).payload)
    token = jwt.encode(payload, HS_SECRET, algorithm="HS256")
    assert_problem(_client(token).get(ME), status.HTTP_401_UNAUTHORIZED)


def test_hs256_mode_accepts_the_shared_secret_token(better_auth, settings):
    settings.BETTER_AUTH_ALGORITHMS = ["HS256"]
    settings.BETTER_AUTH_SECRET = HS_SECRET
    response = _client(better_auth.hs256_token("ba-hs")).get(ME)
    assert response.status_code == status.HTTP_200_OK, response.content
    assert ExternalIdentity.objects.get().subject == "ba-hs"


def test_no_usable_key_is_a_503_with_retry_after_never_a_401(better_auth, settings):
    settings.BETTER_AUTH_JWKS = ""
    settings.BETTER_AUTH_JWKS_URL = "http://127.0.0.1:9/api/auth/jwks"  # discard port
    settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS = 30
    settings.BETTER_AUTH_JWKS_TIMEOUT_SECONDS = 1

    response = _client(better_auth.token("ba-1")).get(ME)

    assert_problem(response, status.HTTP_503_SERVICE_UNAVAILABLE)
    assert response["Retry-After"] == "30"
    assert response.json()["type"].endswith("authentication-unavailable")


def test_garbage_bearer_tokens_keep_simplejwts_answer(better_auth):
    response = _client("not-a-jwt").get(ME)
    assert_problem(response, status.HTTP_401_UNAUTHORIZED)
    assert response.json()["type"].endswith("token-not-valid")


def test_a_flood_of_unknown_kids_is_all_401_and_costs_one_jwks_fetch(
    better_auth, settings
):
    """100 requests, each signed by a key of its own: one refetch, no more."""
    from tests.support.betterauth import jwks_server

    with jwks_server(better_auth) as served:
        settings.BETTER_AUTH_JWKS = ""
        settings.BETTER_AUTH_JWKS_URL = served.url
        genuine = _client(better_auth.token("ba-1"))
        assert genuine.get(ME).status_code == status.HTTP_200_OK
        assert served.fetches == 1

        for _ in range(100):
            forged = better_auth.token("ba-1", key=SigningKey("EdDSA"))
            assert_problem(_client(forged).get(TASKS), status.HTTP_401_UNAUTHORIZED)

        assert served.fetches == 2
        assert genuine.get(ME).status_code == status.HTTP_200_OK
    assert User.objects.count() == 1
