"""api.throttling: the throttles' answers, read before the request's first statement
or its response, never after anything that a refusal should have prevented.

Against the real Redis (``on_redis``), where the per-user throttle answers late;
without it the throttle answers at once and the same rules hold.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db.backends.utils import CursorWrapper
from django.urls import reverse
from rest_framework import status
from rest_framework.throttling import UserRateThrottle as DRFUserRateThrottle

from accounts import throttling
from tests.factories import TaskFactory
from tests.support.caches import REDIS_URL
from tests.support.problems import assert_problem
from todos.models import Task
from todos.views import TaskViewSet

pytestmark = pytest.mark.django_db

LIST = reverse("todos:task-list")


def _detail(task: Task, action: str = "detail") -> str:
    return reverse(f"todos:task-{action}", args=[task.pk])


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements sent to the database from now on, past every execute wrapper
    (Django's query log also records those a wrapper refused)."""
    sent: list[str] = []
    execute = CursorWrapper._execute  # type: ignore[attr-defined]

    def recorded(self: CursorWrapper, sql: str, *args: Any) -> Any:
        sent.append(sql)
        return execute(self, sql, *args)

    monkeypatch.setattr(CursorWrapper, "_execute", recorded)
    return sent


def _on_tasks(statements: list[str]) -> list[str]:
    """The statements that touched the tasks' table (the user's own check may run:
    a revoked token's 401 outranks the 429, as it always did)."""
    return [sql for sql in statements if "todos_task" in sql]


def _requests(task: Task) -> dict[str, Callable[[Any], Any]]:
    return {
        "list": lambda client: client.get(LIST),
        "detail": lambda client: client.get(_detail(task)),
        "create": lambda client: client.post(LIST, {"title": "new"}, format="json"),
        "patch": lambda client: client.patch(
            _detail(task), {"title": "after"}, format="json"
        ),
        "complete": lambda client: client.post(_detail(task, "complete")),
        "delete": lambda client: client.delete(_detail(task)),
    }


# Transactional: a statement refused inside the ORM's writes (Model.save) marks
# the enclosing atomic block for rollback, as any error there does; in a test's
# own transaction that would stop the assertions below from reading.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis", [True, False], ids=["redis", "no redis"])
@pytest.mark.parametrize(
    "name", ["list", "detail", "create", "patch", "complete", "delete"]
)
def test_a_refused_request_runs_no_statement_of_its_handler(
    request, redis, name, user_rate, auth_client, user, executed
):
    if redis:
        request.getfixturevalue("on_redis")
    user_rate("1/min")
    task = TaskFactory.create(owner=user, title="before")
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    assert _on_tasks(executed)
    executed.clear()

    response = _requests(task)[name](auth_client)

    assert_problem(response, status.HTTP_429_TOO_MANY_REQUESTS)
    assert 0 < int(response["Retry-After"]) <= 60
    assert _on_tasks(executed) == []
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == [
        "before"
    ]


@pytest.mark.parametrize(
    ("name", "without_refusal"),
    [
        ("malformed id", status.HTTP_404_NOT_FOUND),
        ("invalid body", status.HTTP_400_BAD_REQUEST),
        ("no such method", status.HTTP_405_METHOD_NOT_ALLOWED),
    ],
)
def test_a_refusal_outranks_what_the_handler_answers_without_the_database(
    on_redis, user_rate, auth_client, name, without_refusal
):
    """Answers a handler gives before any statement are still the 429 when the
    throttle refuses, as when the throttle answered before the handler ran."""
    send = {
        "malformed id": lambda: auth_client.get(f"{LIST}not-a-uuid/"),
        "invalid body": lambda: auth_client.post(LIST, {"title": ""}, format="json"),
        "no such method": lambda: auth_client.put(LIST, {}, format="json"),
    }[name]
    user_rate("2/min")
    assert send().status_code == without_refusal
    assert send().status_code == without_refusal
    response = send()
    assert_problem(response, status.HTTP_429_TOO_MANY_REQUESTS)
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_answer_is_read_at_the_first_statement_not_in_initial(
    on_redis, user_rate, auth_client, monkeypatch, executed
):
    """The point of it all: the view works on while Redis answers."""
    user_rate("5/min")
    read = throttling._Answer.read
    seen: list[tuple[int, set[str]]] = []

    def recorded(answer: throttling._Answer) -> Any:
        callers = {frame.function for frame in inspect.stack()[1:]}
        seen.append((len(executed), callers))
        return read(answer)

    monkeypatch.setattr(throttling._Answer, "read", recorded)
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    assert len(seen) == 1
    statements_before, callers = seen[0]
    assert "_before_statement" in callers
    assert "check_throttles" not in callers
    # Read just before the page's statement (the first on the tasks).
    assert _on_tasks(executed[:statements_before]) == []
    assert "todos_task" in executed[statements_before]


def test_a_throttle_without_ask_answers_at_once(
    user_rate, auth_client, user, monkeypatch, executed
):
    """DRF's own throttles (no ``ask()``) refuse in ``initial()``, as in DRF."""
    monkeypatch.setattr(TaskViewSet, "throttle_classes", [DRFUserRateThrottle])
    user_rate("1/min")
    task = TaskFactory.create(owner=user)
    assert auth_client.get(LIST).status_code == status.HTTP_200_OK
    executed.clear()
    response = auth_client.delete(_detail(task))
    assert_problem(response, status.HTTP_429_TOO_MANY_REQUESTS)
    assert _on_tasks(executed) == []
    assert Task.objects.filter(pk=task.pk).exists()


def test_an_answer_left_unread_is_read_before_the_next_question(on_redis):
    """A request that ended without reading its answer (an error on the way) leaves
    it on the connection; the next question must not take it for its own."""
    window = throttling._sliding_window(REDIS_URL)
    key = f"test-unread-{uuid.uuid4().hex}"
    first = window.send(key, 60_000_000, 1, "first")
    second = window.send(key, 60_000_000, 1, "second")
    assert second.read() > 0  # the window holds one request: the first's
    assert first.read() == 0
