"""CORS for browser front ends on another origin (django-cors-headers)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework import status

pytestmark = pytest.mark.django_db

FRONT = "http://localhost:3000"
SUBJECT = "cors-user"


@pytest.fixture
def allowed(settings, better_auth):
    settings.CORS_ALLOWED_ORIGINS = [FRONT]
    return better_auth


def _preflight(path: str, origin: str, method: str = "PATCH"):
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


@pytest.mark.parametrize(
    "path",
    [f"/api/{SUBJECT}/tasks", f"/api/{SUBJECT}/tasks/x/complete", "/api/v1/tasks/"],
)
def test_a_preflight_from_an_allowed_origin_is_answered_and_cached(allowed, path):
    response = _preflight(path, FRONT)
    assert response.status_code == status.HTTP_200_OK
    assert response["Access-Control-Allow-Origin"] == FRONT
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert {"authorization", "content-type"} <= set(allowed_headers.split(", "))
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Max-Age"] == "7200"
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_from_another_origin_gets_no_cors_headers(allowed):
    response = _preflight(f"/api/{SUBJECT}/tasks", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(better_auth):
    response = _preflight(f"/api/{SUBJECT}/tasks", FRONT)
    assert "Access-Control-Allow-Origin" not in response


def test_answers_expose_etag_location_and_retry_after(allowed):
    token = allowed.token(SUBJECT)
    response = Client().post(
        f"/api/{SUBJECT}/tasks",
        {"title": "t"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ORIGIN=FRONT,
    )
    assert response.status_code == status.HTTP_201_CREATED
    assert response["Access-Control-Allow-Origin"] == FRONT
    exposed = {
        h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed == {"etag", "location", "retry-after"}


def test_errors_carry_cors_headers_so_the_browser_can_read_them(allowed):
    response = Client().get(f"/api/{SUBJECT}/tasks", HTTP_ORIGIN=FRONT)
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert response["Access-Control-Allow-Origin"] == FRONT


def test_the_admin_is_not_cors_enabled(allowed):
    response = _preflight("/admin/login/", FRONT, "POST")
    assert "Access-Control-Allow-Origin" not in response
