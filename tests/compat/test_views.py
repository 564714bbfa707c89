"""The /api/{user_id}/tasks contract, as Next.js + Better Auth front ends call it."""

from __future__ import annotations

import datetime
import json

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework import status
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken

from betterauth.models import ExternalIdentity
from tests.factories import TaskFactory, UserFactory
from todos.models import Task

pytestmark = pytest.mark.django_db

ADA = "AdaL0velace0000000000000000000001"
BOB = "B0bSmith000000000000000000000002"
TASK_KEYS = {
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "created_at",
    "updated_at",
    "status",
    "priority",
    "due_at",
}


class FrontEnd:
    """What a browser front end does: fetch with a Bearer token and JSON bodies."""

    def __init__(self, token: str, subject: str) -> None:
        self.client = Client()
        self.auth = f"Bearer {token}"
        self.base = f"/api/{subject}/tasks"

    def call(
        self, method: str, path: str = "", body: object = None, **headers: str
    ) -> object:
        kwargs: dict[str, object] = {"HTTP_AUTHORIZATION": self.auth, **headers}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method.lower())(self.base + path, **kwargs)


@pytest.fixture
def ada(better_auth) -> FrontEnd:
    return FrontEnd(better_auth.token(ADA, name="Ada"), ADA)


@pytest.fixture
def bob(better_auth) -> FrontEnd:
    return FrontEnd(better_auth.token(BOB), BOB)


def _user_of(subject: str):
    return ExternalIdentity.objects.get(subject=subject).user


def test_create_list_toggle_edit_delete(ada):
    created = ada.call("POST", "", {"title": "Buy milk", "description": "2 l"})
    assert created.status_code == status.HTTP_201_CREATED, created.content
    task = created.json()
    assert set(task) == TASK_KEYS
    assert task["user_id"] == ADA
    assert (task["title"], task["description"], task["completed"]) == (
        "Buy milk",
        "2 l",
        False,
    )

    listed = ada.call("GET")
    assert listed.status_code == status.HTTP_200_OK
    assert listed.json() == [task]

    toggled = ada.call("PATCH", f"/{task['id']}/complete")
    assert toggled.json()["completed"] is True
    assert toggled.json()["status"] == "completed"
    again = ada.call("PATCH", f"/{task['id']}/complete")
    assert again.json()["completed"] is False
    assert again.json()["status"] == "pending"

    edited = ada.call("PUT", f"/{task['id']}", {"title": "Buy oat milk"})
    assert edited.status_code == status.HTTP_200_OK
    assert (edited.json()["title"], edited.json()["description"]) == (
        "Buy oat milk",
        "2 l",
    )
    assert ada.call("GET", f"/{task['id']}").json() == edited.json()

    deleted = ada.call("DELETE", f"/{task['id']}")
    assert deleted.status_code == status.HTTP_204_NO_CONTENT
    assert deleted.content == b""
    assert ada.call("GET").json() == []


def test_tasks_are_the_same_ones_v1_shows(ada):
    ada.call("POST", "", {"title": "shared"})
    task = Task.objects.get()
    assert task.owner == _user_of(ADA)


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_route_works_with_and_without_a_trailing_slash(ada, slash):
    created = ada.call("POST", slash, {"title": "t"})
    assert created.status_code == status.HTTP_201_CREATED
    tid = created.json()["id"]
    assert ada.call("GET", slash).status_code == status.HTTP_200_OK
    assert ada.call("GET", f"/{tid}{slash}").status_code == status.HTTP_200_OK
    assert ada.call("PUT", f"/{tid}{slash}", {"title": "u"}).status_code == 200
    assert ada.call("PATCH", f"/{tid}/complete{slash}").status_code == 200
    assert ada.call("DELETE", f"/{tid}{slash}").status_code == 204


def test_the_list_filters_by_status_in_any_case_and_sorts(ada):
    user = _user_of_after_first_call(ada)
    now = timezone.now()
    TaskFactory.create(owner=user, title="b", due_at=now + datetime.timedelta(days=2))
    TaskFactory.create(
        owner=user, title="a", status="completed", completed_at=now, due_at=None
    )
    TaskFactory.create(
        owner=user, title="c", status="in_progress", due_at=now + datetime.timedelta(1)
    )

    def titles(query: str) -> list[str]:
        response = ada.call("GET", query)
        assert response.status_code == status.HTTP_200_OK, response.content
        return [t["title"] for t in response.json()]

    assert titles("") == ["c", "a", "b"]  # newest first
    assert titles("?status=all") == ["c", "a", "b"]
    assert titles("?status=&sort=") == ["c", "a", "b"]  # empty: the default
    assert titles("?status=Pending") == ["c", "b"]
    assert titles("?status=COMPLETED") == ["a"]
    assert titles("?sort=title") == ["a", "b", "c"]
    assert titles("?sort=due_date") == ["c", "b", "a"]  # undated last
    assert titles("?status=pending&sort=title&page=2&whatever=1") == ["b", "c"]


def _user_of_after_first_call(front: FrontEnd):
    front.call("GET")
    return ExternalIdentity.objects.get().user


@pytest.mark.parametrize("query", ["?status=done", "?sort=priority", "?sort=-title"])
def test_a_bad_value_of_a_known_query_parameter_is_a_400(ada, query):
    response = ada.call("GET", query)
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    body = response.json()
    field = query[1:].split("=")[0]
    assert field in body["errors"]
    assert isinstance(body["errors"][field], str)


def test_unknown_body_fields_are_ignored(ada):
    response = ada.call(
        "POST",
        "",
        {"title": "t", "date": "2026-01-01", "due_date": "x", "category": "home"},
    )
    assert response.status_code == status.HTTP_201_CREATED, response.content


def test_known_extra_fields_are_read(ada):
    response = ada.call(
        "POST",
        "",
        {
            "title": "t",
            "description": None,
            "completed": True,
            "priority": "high",
            "due_at": "2030-01-01T00:00:00Z",
        },
    )
    body = response.json()
    assert (body["description"], body["completed"], body["priority"]) == (
        None,
        True,
        "high",
    )
    assert body["due_at"] == "2030-01-01T00:00:00Z"


def test_patch_with_completed_changes_the_status_like_front_end_e(ada):
    tid = ada.call("POST", "", {"title": "t"}).json()["id"]
    done = ada.call("PATCH", f"/{tid}", {"completed": True})
    assert done.json()["status"] == "completed"
    reopened = ada.call("PATCH", f"/{tid}", {"completed": False})
    assert reopened.json()["status"] == "pending"
    titled = ada.call("PUT", f"/{tid}", {"status": "In Progress"})
    assert titled.json()["status"] == "in_progress"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "t", "completed": "maybe"}, "completed"),
        ({"title": "t", "status": "done"}, "status"),
        ({"title": "t", "status": "pending", "completed": True}, "completed"),
        ({"title": "t", "due_at": "tomorrow"}, "due_at"),
    ],
)
def test_validation_errors_are_400_with_a_string_detail_and_field_messages(
    ada, body, field
):
    response = ada.call("POST", "", body)
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert isinstance(payload["errors"][field], str)
    assert field in payload["detail"]
    assert payload["message"] == payload["detail"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("body", ["[1]", '"x"', "{bad json"])
def test_a_body_that_is_not_an_object_is_a_400(ada, body):
    response = ada.client.post(
        ada.base, body, content_type="application/json", HTTP_AUTHORIZATION=ada.auth
    )
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("content_length", [None, "0"])
def test_a_bodyless_toggle_with_or_without_content_length_is_fine(ada, content_length):
    """Node's fetch sends a body-less PATCH with no Content-Length at all."""
    tid = ada.call("POST", "", {"title": "t"}).json()["id"]
    environ = {"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": ada.auth}
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    url = f"{ada.base}/{tid}/complete"
    # The test client sets no Content-Length for an empty body: the header is absent.
    sent = RequestFactory().generic("PATCH", url, "", **environ).META
    assert sent.get("CONTENT_LENGTH") == content_length

    response = ada.client.generic("PATCH", url, "", **environ)

    assert response.status_code == status.HTTP_200_OK, response.content
    assert response.json()["completed"] is True


def test_another_users_path_is_a_403_before_any_database_read(
    ada, bob, django_assert_num_queries
):
    bob.call("POST", "", {"title": "bob's"})
    tid = Task.objects.get().pk
    for method, path in [
        ("GET", ""),
        ("POST", ""),
        ("GET", f"/{tid}"),
        ("PUT", f"/{tid}"),
        ("DELETE", f"/{tid}"),
        ("PATCH", f"/{tid}/complete"),
    ]:
        ada.base = f"/api/{BOB}/tasks"
        with django_assert_num_queries(0):
            response = ada.call(
                method, path, {"title": "x"} if method in {"POST", "PUT"} else None
            )
        assert response.status_code == status.HTTP_403_FORBIDDEN
        assert isinstance(response.json()["detail"], str)
    assert Task.objects.get().title == "bob's"


def test_the_403_is_the_same_whether_or_not_the_path_user_exists(ada, bob):
    bob.call("GET")
    ada.base = f"/api/{BOB}/tasks"
    real = ada.call("GET")
    ada.base = "/api/nobody-at-all/tasks"
    made_up = ada.call("GET")
    assert (real.status_code, real.json()) == (made_up.status_code, made_up.json())


def test_another_users_task_and_a_missing_one_are_the_same_404(ada, bob):
    tid = bob.call("POST", "", {"title": "bob's"}).json()["id"]
    missing = "0190b3c4-0000-7000-8000-000000000000"
    for method in ("GET", "PUT", "DELETE"):
        theirs = ada.call(
            method, f"/{tid}", {"title": "x"} if method == "PUT" else None
        )
        gone = ada.call(
            method, f"/{missing}", {"title": "x"} if method == "PUT" else None
        )
        assert theirs.status_code == gone.status_code == status.HTTP_404_NOT_FOUND
        assert theirs.json() == gone.json()
        # The front end shows ``message``: no middleware may swap in another body.
        assert theirs["Content-Type"] == "application/json"
        assert isinstance(theirs.json()["message"], str)
    assert ada.call("PATCH", f"/{tid}/complete").status_code == 404
    assert ada.call("GET", "/not-a-uuid").status_code == 404
    assert Task.objects.get().title == "bob's"
    assert Task.objects.get().status == "pending"


def test_no_token_is_a_401_with_a_bearer_challenge(better_auth):
    response = Client().get(f"/api/{ADA}/tasks")
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert isinstance(response.json()["message"], str)


def test_a_token_of_ours_is_a_401_on_the_compat_routes(better_auth):
    user = UserFactory.create()
    response = Client().get(
        f"/api/{user.pk}/tasks",
        HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}",
    )
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert not ExternalIdentity.objects.exists()


def test_the_routes_are_404_while_better_auth_is_off(better_auth, settings, ada):
    settings.BETTER_AUTH_ENABLED = False
    assert ada.call("GET").status_code == status.HTTP_404_NOT_FOUND


def test_v1_without_its_slash_is_not_a_user_called_v1(better_auth):
    token = better_auth.token("v1")
    response = Client().get("/api/v1/tasks", HTTP_AUTHORIZATION=f"Bearer {token}")
    # CommonMiddleware's APPEND_SLASH, exactly as before the compat routes existed.
    assert response.status_code == status.HTTP_301_MOVED_PERMANENTLY
    assert response["Location"] == "/api/v1/tasks/"
    assert not ExternalIdentity.objects.exists()


def test_the_list_is_capped(ada, settings):
    settings.BETTER_AUTH_COMPAT_LIST_MAX = 2
    for title in "abc":
        ada.call("POST", "", {"title": title})
    assert [t["title"] for t in ada.call("GET").json()] == ["c", "b"]


def test_the_user_throttle_applies(ada, monkeypatch):
    table = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", table)
    codes = [ada.call("GET").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
