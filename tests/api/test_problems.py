"""Every error under /api/ is application/problem+json, never HTML or a stack trace."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path, reverse
from rest_framework import status

from config.urls import urlpatterns as project_urls
from tests.support.problems import PROBLEM, assert_problem
from todos.models import Task

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tasks/"


def test_validation_problems_list_each_field_with_pointer_message_and_code(
    auth_client,
):
    body = assert_problem(auth_client.post(LIST, {"title": "", "priority": "x"}), 400)
    assert body["errors"] == [
        {
            "field": "title",
            "pointer": "/title",
            "message": "This field may not be blank.",
            "code": "blank",
        },
        {
            "field": "priority",
            "pointer": "/priority",
            "message": '"x" is not a valid choice.',
            "code": "invalid_choice",
        },
    ]


def test_401_carries_www_authenticate_bearer(api_client):
    response = api_client.get(LIST)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_a_plain_401_problem_without_the_token_libraries_internals(
    api_client,
):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer abc.def.ghi")

    response = api_client.get(LIST)

    assert_problem(response, 401)
    assert response.json() == {
        "type": "urn:taskapi:problem:token-not-valid",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Given token not valid for any token type",
    }


def test_malformed_json_is_400(auth_client):
    response = auth_client.generic(
        "POST", LIST, b'{"title": ', content_type="application/json"
    )
    assert_problem(response, 400)


def test_non_json_bodies_are_415(auth_client):
    response = auth_client.generic(
        "POST", LIST, b"title=hello", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 415)
    assert Task.objects.count() == 0


def test_an_unknown_api_url_is_a_problem_404(auth_client):
    assert_problem(auth_client.get("/api/v1/no-such-thing/"), 404)


def test_a_wrong_method_is_a_problem_405(auth_client):
    assert_problem(auth_client.delete(LIST), 405)


def test_an_unexpected_crash_is_a_problem_500_without_a_trace(settings):
    def boom(request):
        raise RuntimeError("secret internals")

    settings.ROOT_URLCONF = type(
        "Urls",
        (),
        {
            "urlpatterns": [path("api/v1/boom/", boom), *project_urls],
            "handler500": "api.views.server_error",
            "handler404": "api.views.not_found",
        },
    )
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom/")
    body = assert_problem(response, 500)
    assert "secret internals" not in response.content.decode()
    assert body["detail"] == "An unexpected error occurred on the server."


def test_pages_outside_the_api_keep_django_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == status.HTTP_404_NOT_FOUND
    assert response["Content-Type"].startswith("text/html")


def test_the_browsable_api_is_off_unless_debug(auth_client):
    response = auth_client.get(reverse("todos:task-list"), HTTP_ACCEPT="text/html")
    assert response.status_code == status.HTTP_406_NOT_ACCEPTABLE
    assert response["Content-Type"] == PROBLEM


def test_debug_settings_enable_the_browsable_api():
    import subprocess
    import sys

    code = (
        "from config.settings import local as s; "
        "print(s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'])"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "BrowsableAPIRenderer" in out
