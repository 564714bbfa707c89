"""The task endpoints: CRUD, ETags and preconditions, strict input, isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework import status

from tests.factories import TaskFactory
from todos.models import ChangeSequence, Label, Task, TaskList, TaskTombstone

pytestmark = pytest.mark.django_db

LIST = reverse("todos:task-list")


def detail(task_id: object) -> str:
    return reverse("todos:task-detail", args=[task_id])


def _body(response) -> dict:
    return response.json()


# --- create -------------------------------------------------------------------------


def test_create_returns_201_with_location_etag_and_the_whole_task(auth_client, user):
    response = auth_client.post(
        LIST,
        {
            "title": "  Write the report  ",
            "description": "numbers first",
            "priority": "urgent",
            "due_at": "2030-05-01T12:00:00+02:00",
        },
    )

    assert response.status_code == status.HTTP_201_CREATED
    body = _body(response)
    task = Task.objects.get(pk=body["id"])
    assert task.owner == user
    assert response["Location"].endswith(detail(task.pk))
    assert response["ETag"] == f'"{task.pk}.1"'
    assert body == {
        "id": str(task.pk),
        "title": "Write the report",
        "description": "numbers first",
        "status": "pending",
        "priority": "urgent",
        "due_at": "2030-05-01T10:00:00Z",
        "completed_at": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "list": None,
        "labels": [],
    }
    assert body["created_at"].endswith("Z")
    assert task.priority == Task.Priority.URGENT


def test_create_with_status_completed_stamps_completed_at(auth_client):
    response = auth_client.post(LIST, {"title": "done", "status": "completed"})
    assert response.status_code == status.HTTP_201_CREATED
    assert _body(response)["completed_at"] is not None


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({}, "title", "required"),
        ({"title": ""}, "title", "blank"),
        ({"title": "   "}, "title", "blank"),
        ({"title": "x" * 256}, "title", "max_length"),
        ({"title": "ok", "description": "x" * 10_001}, "description", "max_length"),
        ({"title": "ok", "status": "done"}, "status", "invalid_choice"),
        ({"title": "ok", "priority": "critical"}, "priority", "invalid_choice"),
        ({"title": "ok", "priority": 30}, "priority", "invalid_choice"),
        ({"title": "ok", "due_at": "next tuesday"}, "due_at", "invalid"),
        # ISO 8601 that Python takes but RFC 3339 (the schema's format) does not.
        ({"title": "ok", "due_at": "2030-01-31"}, "due_at", "invalid"),
        ({"title": "ok", "due_at": "2030-01-31T17:00:00"}, "due_at", "invalid"),
        ({"title": "ok", "due_at": "2030-01-31 17:00:00Z"}, "due_at", "invalid"),
        ({"title": "ok", "due_at": "2030-01-31T17:00Z"}, "due_at", "invalid"),
        ({"title": None}, "title", "null"),
    ],
)
def test_create_rejects_invalid_fields_with_a_problem_naming_them(
    auth_client, payload, field, code
):
    response = auth_client.post(LIST, payload)

    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response["Content-Type"] == "application/problem+json"
    body = _body(response)
    assert body["status"] == 400
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert Task.objects.count() == 0


@pytest.mark.parametrize("key", ["due_date", "owner", "owner_id", "user", "version"])
def test_unknown_fields_are_refused_by_name(auth_client, key):
    response = auth_client.post(LIST, {"title": "typo", key: "2030-01-01"})

    assert response.status_code == status.HTTP_400_BAD_REQUEST
    errors = _body(response)["errors"]
    assert errors == [
        {
            "field": key,
            "pointer": f"/{key}",
            "message": "Unknown field.",
            "code": "unknown_field",
        }
    ]
    assert Task.objects.count() == 0


def test_read_only_fields_in_a_body_change_nothing(auth_client, user):
    task = TaskFactory.create(owner=user)
    forged = {
        "id": str(uuid.uuid4()),
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "completed_at": "2000-01-01T00:00:00Z",
        "title": "renamed",
    }
    response = auth_client.patch(detail(task.pk), forged)

    assert response.status_code == status.HTTP_200_OK
    fresh = Task.objects.get(pk=task.pk)
    assert fresh.title == "renamed"
    assert fresh.created_at == task.created_at
    assert fresh.completed_at is None
    assert fresh.updated_at.year != 2000


@pytest.mark.parametrize("body", [[], ["title"], "title", 42])
def test_a_body_that_is_not_an_object_is_a_400(auth_client, body):
    response = auth_client.post(LIST, body)
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert response["Content-Type"] == "application/problem+json"


# --- retrieve and ETags -------------------------------------------------------------


def test_retrieve_returns_the_task_with_its_etag(auth_client, user):
    task = TaskFactory.create(owner=user)
    response = auth_client.get(detail(task.pk))
    assert response.status_code == status.HTTP_200_OK
    assert response["ETag"] == f'"{task.pk}.{task.version}"'
    assert _body(response)["id"] == str(task.pk)


def test_if_none_match_with_the_current_tag_is_304_and_stale_is_200(auth_client, user):
    task = TaskFactory.create(owner=user)
    etag = auth_client.get(detail(task.pk))["ETag"]

    same = auth_client.get(detail(task.pk), HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == status.HTTP_304_NOT_MODIFIED
    assert same.content == b""
    assert same["ETag"] == etag

    auth_client.patch(detail(task.pk), {"title": "changed"})
    changed = auth_client.get(detail(task.pk), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == status.HTTP_200_OK
    assert changed["ETag"] != etag


def test_the_etag_cycle_patch_with_if_match(auth_client, user):
    task = TaskFactory.create(owner=user)
    etag = auth_client.get(detail(task.pk))["ETag"]

    first = auth_client.patch(detail(task.pk), {"title": "one"}, HTTP_IF_MATCH=etag)
    assert first.status_code == status.HTTP_200_OK
    new_etag = first["ETag"]
    assert new_etag != etag
    assert auth_client.get(detail(task.pk))["ETag"] == new_etag

    stale = auth_client.patch(detail(task.pk), {"title": "two"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == status.HTTP_412_PRECONDITION_FAILED
    assert stale["Content-Type"] == "application/problem+json"
    assert Task.objects.get(pk=task.pk).title == "one"

    fresh = auth_client.patch(detail(task.pk), {"title": "two"}, HTTP_IF_MATCH=new_etag)
    assert fresh.status_code == status.HTTP_200_OK
    assert Task.objects.get(pk=task.pk).title == "two"


def test_if_match_star_and_lists_are_understood(auth_client, user):
    task = TaskFactory.create(owner=user)
    star = auth_client.patch(detail(task.pk), {"title": "a"}, HTTP_IF_MATCH="*")
    assert star.status_code == status.HTTP_200_OK
    current = star["ETag"]
    listed = auth_client.patch(
        detail(task.pk), {"title": "b"}, HTTP_IF_MATCH=f'"nope", {current}'
    )
    assert listed.status_code == status.HTTP_200_OK


def test_delete_honours_if_match(auth_client, user):
    task = TaskFactory.create(owner=user)
    etag = auth_client.get(detail(task.pk))["ETag"]
    auth_client.patch(detail(task.pk), {"title": "moved on"})

    stale = auth_client.delete(detail(task.pk), HTTP_IF_MATCH=etag)
    assert stale.status_code == status.HTTP_412_PRECONDITION_FAILED
    assert Task.objects.filter(pk=task.pk).exists()

    current = auth_client.get(detail(task.pk))["ETag"]
    gone = auth_client.delete(detail(task.pk), HTTP_IF_MATCH=current)
    assert gone.status_code == status.HTTP_204_NO_CONTENT
    assert not Task.objects.filter(pk=task.pk).exists()
    assert auth_client.get(detail(task.pk)).status_code == status.HTTP_404_NOT_FOUND


# --- update -------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(auth_client, user):
    task = TaskFactory.create(owner=user, description="keep me", priority=30)
    response = auth_client.patch(detail(task.pk), {"status": "in_progress"})

    assert response.status_code == status.HTTP_200_OK
    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.status, fresh.description, fresh.priority) == (
        "in_progress",
        "keep me",
        30,
    )
    assert fresh.version == task.version + 1
    assert response["ETag"] == f'"{task.pk}.{fresh.version}"'


def test_patch_with_stale_in_memory_row_keeps_a_concurrent_change(auth_client, user):
    """A write that lands between our read and our UPDATE is not overwritten."""
    task = TaskFactory.create(owner=user, title="original", description="original")
    # Someone else changes the title after we read the row (simulated directly).
    from todos import services

    stale_copy = Task.objects.get(pk=task.pk)
    Task.objects.filter(pk=task.pk).update(title="theirs")
    services.task_update(task=stale_copy, changes={"description": "mine"})

    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.title, fresh.description) == ("theirs", "mine")
    assert fresh.version == task.version + 2


def test_put_replaces_every_writable_field(auth_client, user):
    task = TaskFactory.create(
        owner=user, description="old", priority=40, due_at="2031-01-01T00:00:00Z"
    )
    response = auth_client.put(detail(task.pk), {"title": "replaced"})

    assert response.status_code == status.HTTP_200_OK
    body = _body(response)
    assert (body["title"], body["description"], body["priority"], body["due_at"]) == (
        "replaced",
        "",
        "normal",
        None,
    )


def test_put_without_title_is_400(auth_client, user):
    task = TaskFactory.create(owner=user)
    response = auth_client.put(detail(task.pk), {"description": "x"})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert _body(response)["errors"][0]["field"] == "title"


def test_status_changes_keep_completed_at_in_step(auth_client, user):
    task = TaskFactory.create(owner=user)
    done = _body(auth_client.patch(detail(task.pk), {"status": "completed"}))
    assert done["completed_at"] is not None
    again = _body(auth_client.patch(detail(task.pk), {"status": "completed"}))
    assert again["completed_at"] == done["completed_at"]
    back = _body(auth_client.patch(detail(task.pk), {"status": "in_progress"}))
    assert back["completed_at"] is None


def test_an_empty_patch_changes_nothing(auth_client, user):
    task = TaskFactory.create(owner=user)
    response = auth_client.patch(detail(task.pk), {})
    assert response.status_code == status.HTTP_200_OK
    assert Task.objects.get(pk=task.pk).version == task.version


@pytest.mark.parametrize(
    ("if_match", "code"),
    [
        ('"{pk}.{version}"', status.HTTP_200_OK),
        ('"nope", "{pk}.{version}"', status.HTTP_200_OK),
        ("*", status.HTTP_200_OK),
        ('"{pk}.0{version}"', status.HTTP_412_PRECONDITION_FAILED),
        ('"{pk}.+{version}"', status.HTTP_412_PRECONDITION_FAILED),
        ('W/"{pk}.{version}"', status.HTTP_412_PRECONDITION_FAILED),
        ('"{other}.{version}"', status.HTTP_412_PRECONDITION_FAILED),
        ('"{pk}.{version}1"', status.HTTP_412_PRECONDITION_FAILED),
        ('"{pk}"', status.HTTP_412_PRECONDITION_FAILED),
    ],
)
def test_if_match_names_the_task_exactly_as_its_etag_is_written(
    auth_client, user, if_match, code
):
    task, other = TaskFactory.create_batch(2, owner=user)
    header = if_match.format(pk=task.pk, version=task.version, other=other.pk)
    response = auth_client.patch(detail(task.pk), {"title": "x"}, HTTP_IF_MATCH=header)
    assert response.status_code == code


def test_if_match_is_read_against_the_task_however_its_id_is_spelt(auth_client, user):
    task = TaskFactory.create(owner=user)
    url = f"/api/v1/tasks/{str(task.pk).upper()}/"
    etag = f'"{task.pk}.{task.version}"'
    response = auth_client.patch(url, {"title": "x"}, HTTP_IF_MATCH=etag)
    assert response.status_code == status.HTTP_200_OK


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("patch", "", {"title": ""}),
        ("put", "", {"description": "no title"}),
        ("post", "complete/", {"unknown": 1}),
        ("post", "reopen/", {"unknown": 1}),
    ],
)
def test_the_404_and_412_come_before_a_400_for_bad_input(
    auth_client, user, other_user, method, suffix, payload
):
    send = getattr(auth_client, method)
    foreign = TaskFactory.create(owner=other_user)
    mine = TaskFactory.create(owner=user)
    missing = send(detail(uuid.uuid4()) + suffix, payload)
    theirs = send(detail(foreign.pk) + suffix, payload)
    stale = send(detail(mine.pk) + suffix, payload, HTTP_IF_MATCH=f'"{mine.pk}.9"')
    current = send(
        detail(mine.pk) + suffix, payload, HTTP_IF_MATCH=f'"{mine.pk}.{mine.version}"'
    )
    assert [r.status_code for r in (missing, theirs, stale, current)] == [
        status.HTTP_404_NOT_FOUND,
        status.HTTP_404_NOT_FOUND,
        status.HTTP_412_PRECONDITION_FAILED,
        status.HTTP_400_BAD_REQUEST,
    ]


def test_a_write_answers_the_task_as_stored(auth_client, user):
    task = TaskFactory.create(owner=user, title="t", description="d", priority=30)
    response = auth_client.patch(detail(task.pk), {"status": "completed"})
    stored = auth_client.get(detail(task.pk))
    assert response.json() == stored.json()
    assert response["ETag"] == stored["ETag"]


# --- complete / reopen --------------------------------------------------------------


def test_complete_and_reopen_are_idempotent(auth_client, user):
    task = TaskFactory.create(owner=user)
    url_complete = reverse("todos:task-complete", args=[task.pk])
    url_reopen = reverse("todos:task-reopen", args=[task.pk])

    first = auth_client.post(url_complete)
    second = auth_client.post(url_complete)
    assert first.status_code == second.status_code == status.HTTP_200_OK
    assert _body(first)["status"] == "completed"
    assert _body(second)["completed_at"] == _body(first)["completed_at"]
    assert Task.objects.get(pk=task.pk).version == task.version + 1

    reopened = auth_client.post(url_reopen)
    again = auth_client.post(url_reopen)
    assert reopened.status_code == again.status_code == status.HTTP_200_OK
    assert _body(again)["status"] == "pending"
    assert _body(again)["completed_at"] is None
    assert Task.objects.get(pk=task.pk).version == task.version + 2


def test_complete_with_a_stale_if_match_is_412(auth_client, user):
    task = TaskFactory.create(owner=user)
    stale = f'"{task.pk}.{task.version + 5}"'
    response = auth_client.post(
        reverse("todos:task-complete", args=[task.pk]), HTTP_IF_MATCH=stale
    )
    assert response.status_code == status.HTTP_412_PRECONDITION_FAILED
    assert Task.objects.get(pk=task.pk).status == "pending"


# --- isolation ----------------------------------------------------------------------


def _not_found_body(client, url):
    response = client.get(url)
    assert response.status_code == status.HTTP_404_NOT_FOUND
    return response.json()


def test_foreign_deleted_and_malformed_ids_give_the_same_404(auth_client, other_user):
    foreign = TaskFactory.create(owner=other_user)
    deleted = TaskFactory.create(owner=other_user)
    deleted_id = deleted.pk
    deleted.delete()

    bodies = [
        _not_found_body(auth_client, detail(foreign.pk)),
        _not_found_body(auth_client, detail(deleted_id)),
        _not_found_body(auth_client, detail(uuid.uuid4())),
        _not_found_body(auth_client, "/api/v1/tasks/not-a-uuid/"),
    ]
    assert all(body == bodies[0] for body in bodies)


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("patch", "", {"title": "pwned"}),
        ("put", "", {"title": "pwned"}),
        ("delete", "", None),
        ("post", "complete/", None),
        ("post", "reopen/", None),
    ],
)
def test_another_users_task_cannot_be_changed(
    auth_client, other_user, method, suffix, payload
):
    foreign = TaskFactory.create(owner=other_user, title="theirs")
    response = getattr(auth_client, method)(detail(foreign.pk) + suffix, payload)

    assert response.status_code == status.HTTP_404_NOT_FOUND
    fresh = Task.objects.get(pk=foreign.pk)
    assert (fresh.title, fresh.status, fresh.version) == ("theirs", "pending", 1)


def test_a_list_never_contains_another_users_tasks(auth_client, user, other_user):
    mine = TaskFactory.create_batch(3, owner=user)
    TaskFactory.create_batch(4, owner=other_user)
    ids = {t["id"] for t in auth_client.get(LIST).json()["results"]}
    assert ids == {str(t.pk) for t in mine}


@pytest.mark.parametrize("path", ["list", "detail"])
def test_a_read_whose_task_query_fails_is_a_503(auth_client, user, path):
    """The page and the detail run their own SQL; losing the database there is
    the same 503 as anywhere else."""
    task = TaskFactory.create(owner=user)

    def lose_tasks(execute, sql, params, many, context):
        if '"todos_task"' in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(lose_tasks):
        response = auth_client.get(LIST if path == "list" else detail(task.pk))

    assert response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE
    assert response["Content-Type"] == "application/problem+json"


def test_an_unknown_parameter_on_a_detail_is_a_400_before_the_id_is_read(auth_client):
    for url in (detail(uuid.uuid4()), "/api/v1/tasks/not-a-uuid/"):
        response = auth_client.get(url, {"stauts": "pending"})
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert [e["field"] for e in response.json()["errors"]] == ["stauts"]


# --- statements per write (PostgreSQL) ------------------------------------------------


def _sent(queries) -> list[str]:
    """What a request sent the database, less the authentication's user lookup
    (accounts.authentication's business, not the write's)."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if "accounts_user" not in query["sql"] or "todos_" in query["sql"]
    ]


def _kinds(queries) -> list[str]:
    """Each statement's first word: WITH for a one-statement write."""
    return [sql.split()[0] for sql in _sent(queries)]


@pytest.mark.postgres(reason="the one-statement writes are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
class TestStatementsPerWrite:
    """As in production, outside a test transaction: an atomic() would be a real
    BEGIN ... COMMIT (Django logs both among the queries, and SAVEPOINTs)."""

    def _send(self, call, *args, **kwargs):
        with CaptureQueriesContext(connection) as queries:
            response = call(*args, **kwargs)
        return response, _kinds(queries)

    @pytest.mark.parametrize(
        "body",
        [
            {"title": "Sample", "priority": "high", "due_at": "2031-01-31T17:00:00Z"},
            {"title": "Done", "status": "completed"},
        ],
    )
    def test_a_create_is_one_statement(self, auth_client, user, body):
        response, sent = self._send(auth_client.post, LIST, body)

        assert response.status_code == status.HTTP_201_CREATED
        assert sent == ["WITH"]
        task = Task.objects.get(pk=response.json()["id"])
        assert response["ETag"] == f'"{task.pk}.{task.version}"'
        assert task.change_seq == ChangeSequence.objects.get(owner=user).last_seq

    def test_a_create_with_a_list_and_labels_checks_them_then_writes_once(
        self, auth_client, user
    ):
        task_list = TaskList.objects.create(owner=user, name="L", position=1)
        labels = [Label.objects.create(owner=user, name=n) for n in ("a", "b")]
        body: dict[str, Any] = {"title": "T", "list": str(task_list.pk)}
        body["labels"] = [str(label.pk) for label in labels]

        response, sent = self._send(auth_client.post, LIST, body)

        assert response.status_code == status.HTTP_201_CREATED
        # The serializer's two ownership checks, then the write with its links.
        assert sent == ["SELECT", "SELECT", "WITH"]
        assert response.json()["labels"] == sorted(body["labels"])
        task = Task.objects.get(pk=response.json()["id"])
        assert sorted(str(i) for i in task.labels.values_list("pk", flat=True)) == (
            sorted(body["labels"])
        )

    def test_a_create_with_an_idempotency_key_adds_only_the_keys_statements(
        self, auth_client
    ):
        response, sent = self._send(
            auth_client.post, LIST, {"title": "T"}, HTTP_IDEMPOTENCY_KEY="k-1"
        )

        assert response.status_code == status.HTTP_201_CREATED
        # Lock the key, look for its record, run (a savepoint keeps a failed
        # request's answer storable), store the answer: all in one transaction.
        assert sent == [
            "BEGIN",
            "SELECT",
            "SELECT",
            "SAVEPOINT",
            "WITH",
            "RELEASE",
            "INSERT",
            "COMMIT",
        ]

    @pytest.mark.parametrize("if_match", [False, True])
    def test_a_patch_is_one_statement(self, auth_client, user, if_match):
        task = TaskFactory.create(owner=user)
        headers = {"HTTP_IF_MATCH": f'"{task.pk}.{task.version}"'} if if_match else {}

        response, sent = self._send(
            auth_client.patch, detail(task.pk), {"title": "new"}, **headers
        )

        assert response.status_code == status.HTTP_200_OK
        assert sent == ["WITH"]
        fresh = Task.objects.get(pk=task.pk)
        assert (fresh.title, fresh.version) == ("new", task.version + 1)
        assert response["ETag"] == f'"{task.pk}.{fresh.version}"'

    def test_a_put_that_keeps_the_list_and_labels_is_one_statement(
        self, auth_client, user
    ):
        task = TaskFactory.create(owner=user)
        response, sent = self._send(auth_client.put, detail(task.pk), {"title": "n"})
        assert response.status_code == status.HTTP_200_OK
        assert sent == ["WITH"]

    @pytest.mark.parametrize(
        ("headers", "code"),
        [
            ({}, status.HTTP_200_OK),  # nothing to change
            ({"HTTP_IF_MATCH": '"{pk}.7"'}, status.HTTP_412_PRECONDITION_FAILED),
        ],
    )
    def test_a_patch_that_writes_nothing_is_one_statement_and_claims_nothing(
        self, auth_client, user, headers, code
    ):
        task = TaskFactory.create(owner=user, title="same")
        before = ChangeSequence.objects.get(owner=user).last_seq
        headers = {k: v.format(pk=task.pk) for k, v in headers.items()}

        response, sent = self._send(
            auth_client.patch, detail(task.pk), {"title": "same"}, **headers
        )

        assert response.status_code == code
        assert sent == ["WITH"]
        assert Task.objects.get(pk=task.pk).version == task.version
        assert ChangeSequence.objects.get(owner=user).last_seq == before

    @pytest.mark.parametrize("method", ["patch", "delete"])
    def test_a_missing_task_is_one_statement(self, auth_client, method):
        response, sent = self._send(
            getattr(auth_client, method), detail(uuid.uuid4()), {"title": "x"}
        )
        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert sent == ["WITH"]

    def test_complete_and_reopen_are_one_statement_each(self, auth_client, user):
        task = TaskFactory.create(owner=user)
        for action, state in [
            ("complete", "completed"),
            ("complete", "completed"),
            ("reopen", "pending"),
            ("reopen", "pending"),
        ]:
            url = reverse(f"todos:task-{action}", args=[task.pk])
            response, sent = self._send(auth_client.post, url)
            assert response.status_code == status.HTTP_200_OK
            assert response.json()["status"] == state
            assert sent == ["WITH"]
        assert Task.objects.get(pk=task.pk).version == task.version + 2

    @pytest.mark.parametrize("if_match", [False, True])
    def test_a_delete_is_one_statement(self, auth_client, user, if_match):
        task = TaskFactory.create(owner=user)
        headers = {"HTTP_IF_MATCH": f'"{task.pk}.{task.version}"'} if if_match else {}

        response, sent = self._send(auth_client.delete, detail(task.pk), **headers)

        assert response.status_code == status.HTTP_204_NO_CONTENT
        assert sent == ["WITH"]
        assert not Task.objects.filter(pk=task.pk).exists()
        tombstone = TaskTombstone.objects.get(task_id=task.pk)
        assert tombstone.change_seq == ChangeSequence.objects.get(owner=user).last_seq
