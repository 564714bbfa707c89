"""Idempotency-Key (api/idempotency.py): task create, complete, reopen, register."""

from __future__ import annotations

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework import status
from rest_framework.test import APIClient

from accounts.models import User
from api.models import IdempotencyRecord
from tests.conftest import bearer
from tests.factories import TaskFactory
from tests.support.problems import assert_problem
from tests.support.races import race
from todos import services
from todos.models import Task

LIST = reverse("todos:task-list")
REGISTER = reverse("accounts:register")


@pytest.mark.django_db
class TestReplay:
    def test_a_repeated_create_replays_the_first_answer_and_creates_once(
        self, auth_client, user
    ):
        body = {"title": "once", "due_at": "2031-01-31T17:00:00.000005Z"}
        first = auth_client.post(LIST, body, HTTP_IDEMPOTENCY_KEY="k-1")
        again = auth_client.post(LIST, body, HTTP_IDEMPOTENCY_KEY="k-1")

        assert first.status_code == again.status_code == status.HTTP_201_CREATED
        # Ids and times stored as the first answer wrote them (the keys' order
        # is jsonb's on PostgreSQL).
        assert again.json() == first.json()
        assert again.json()["due_at"] == "2031-01-31T17:00:00.000005Z"
        assert again["Location"] == first["Location"]
        assert again["ETag"] == first["ETag"]
        assert again["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert Task.objects.filter(owner=user).count() == 1

    def test_the_same_key_with_another_body_is_422(self, auth_client, user):
        auth_client.post(LIST, {"title": "one"}, HTTP_IDEMPOTENCY_KEY="k")
        response = auth_client.post(LIST, {"title": "two"}, HTTP_IDEMPOTENCY_KEY="k")
        assert_problem(
            response, status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency-key-reused"
        )
        assert list(Task.objects.values_list("title", flat=True)) == ["one"]

    def test_the_same_key_on_another_route_is_422(self, auth_client, user):
        task = TaskFactory.create(owner=user)
        auth_client.post(LIST, {"title": "one"}, HTTP_IDEMPOTENCY_KEY="k")
        url = reverse("todos:task-complete", args=[task.pk])
        response = auth_client.post(url, HTTP_IDEMPOTENCY_KEY="k")
        assert_problem(
            response, status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency-key-reused"
        )
        task.refresh_from_db()
        assert task.status == Task.Status.PENDING

    def test_a_replayed_complete_does_not_act_again(self, auth_client, user):
        task = TaskFactory.create(owner=user)
        complete = reverse("todos:task-complete", args=[task.pk])
        first = auth_client.post(complete, HTTP_IDEMPOTENCY_KEY="c-1")
        assert first.status_code == status.HTTP_200_OK
        auth_client.post(reverse("todos:task-reopen", args=[task.pk]))

        again = auth_client.post(complete, HTTP_IDEMPOTENCY_KEY="c-1")
        assert again.json() == first.json()
        assert again["ETag"] == first["ETag"]
        task.refresh_from_db()
        assert task.status == Task.Status.PENDING

    def test_a_replayed_reopen_does_not_act_again(self, auth_client, user):
        task = TaskFactory.create(
            owner=user, status="completed", completed_at=timezone.now()
        )
        reopen = reverse("todos:task-reopen", args=[task.pk])
        first = auth_client.post(reopen, HTTP_IDEMPOTENCY_KEY="r-1")
        auth_client.post(reverse("todos:task-complete", args=[task.pk]))
        again = auth_client.post(reopen, HTTP_IDEMPOTENCY_KEY="r-1")
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        task.refresh_from_db()
        assert task.status == Task.Status.COMPLETED

    def test_keys_are_per_user(self, auth_client, other_client, user, other_user):
        mine = auth_client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="shared")
        theirs = other_client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="shared")
        assert theirs.status_code == status.HTTP_201_CREATED
        assert "Idempotent-Replayed" not in theirs
        assert theirs.json()["id"] != mine.json()["id"]
        assert Task.objects.get(owner=other_user).pk != Task.objects.get(owner=user).pk

    def test_a_problem_answer_is_stored_and_replayed(self, auth_client):
        first = auth_client.post(LIST, {"title": ""}, HTTP_IDEMPOTENCY_KEY="bad")
        again = auth_client.post(LIST, {"title": ""}, HTTP_IDEMPOTENCY_KEY="bad")
        assert_problem(first, status.HTTP_400_BAD_REQUEST, "validation-error")
        assert_problem(again, status.HTTP_400_BAD_REQUEST, "validation-error")
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"

    def test_a_foreign_task_is_a_plain_404_and_stays_one(self, auth_client, other_user):
        theirs = TaskFactory.create(owner=other_user)
        url = reverse("todos:task-complete", args=[theirs.pk])
        for _ in range(2):
            assert_problem(
                auth_client.post(url, HTTP_IDEMPOTENCY_KEY="x"),
                status.HTTP_404_NOT_FOUND,
            )
        theirs.refresh_from_db()
        assert theirs.status == Task.Status.PENDING

    @pytest.mark.parametrize("key", ["", "é", "x" * 256, "tab\there"])
    def test_a_malformed_key_is_400_naming_the_header(self, auth_client, key):
        response = auth_client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY=key)
        body = assert_problem(response, status.HTTP_400_BAD_REQUEST)
        assert body["errors"][0]["field"] == "Idempotency-Key"
        assert not Task.objects.exists()

    def test_an_expired_key_runs_again(self, auth_client, user):
        auth_client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="old")
        IdempotencyRecord.objects.update(
            created_at=timezone.now() - datetime.timedelta(hours=25)
        )
        again = auth_client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="old")
        assert again.status_code == status.HTTP_201_CREATED
        assert "Idempotent-Replayed" not in again
        assert Task.objects.filter(owner=user).count() == 2
        assert IdempotencyRecord.objects.count() == 1

    def test_a_server_error_is_not_stored_and_changes_nothing(self, user, monkeypatch):
        # A crash inside the service cannot be provoked through the API: the
        # service is replaced by one that writes and then fails, once.
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        real = services.task_create

        def write_then_crash(**fields):
            real(**fields)
            raise RuntimeError("crash after the write")

        monkeypatch.setattr(services, "task_create", write_then_crash)
        crashed = client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="retry-me")
        assert crashed.status_code == status.HTTP_500_INTERNAL_SERVER_ERROR
        assert not Task.objects.exists()
        assert not IdempotencyRecord.objects.exists()

        monkeypatch.setattr(services, "task_create", real)
        retried = client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="retry-me")
        assert retried.status_code == status.HTTP_201_CREATED
        assert Task.objects.count() == 1

    def test_the_purge_removes_records_past_their_lifetime(self, auth_client):
        auth_client.post(LIST, {"title": "a"}, HTTP_IDEMPOTENCY_KEY="old")
        auth_client.post(LIST, {"title": "b"}, HTTP_IDEMPOTENCY_KEY="new")
        IdempotencyRecord.objects.filter(key="old").update(
            created_at=timezone.now() - datetime.timedelta(hours=25)
        )
        call_command("purge_sync_records", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
class TestRegister:
    BODY = {"email": "new@example.com", "password": "Xy-long-pass-9"}

    def test_a_repeated_register_replays_and_creates_one_account(self, api_client):
        first = api_client.post(REGISTER, self.BODY, HTTP_IDEMPOTENCY_KEY="reg")
        again = api_client.post(REGISTER, self.BODY, HTTP_IDEMPOTENCY_KEY="reg")
        assert first.status_code == again.status_code == status.HTTP_201_CREATED
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert User.objects.filter(email="new@example.com").count() == 1
        # The stored fingerprint is keyed: the password is not recoverable from it.
        record = IdempotencyRecord.objects.get()
        assert record.scope == "client:127.0.0.1"
        assert "Xy-long" not in record.fingerprint + str(record.body)

    def test_register_keys_are_per_client(self, api_client):
        api_client.post(REGISTER, self.BODY, HTTP_IDEMPOTENCY_KEY="reg")
        elsewhere = api_client.post(
            REGISTER, self.BODY, HTTP_IDEMPOTENCY_KEY="reg", REMOTE_ADDR="10.9.9.9"
        )
        # Another client's same key runs for real: the email is taken by then.
        assert "Idempotent-Replayed" not in elsewhere
        assert_problem(elsewhere, status.HTTP_400_BAD_REQUEST)


@pytest.mark.postgres(reason="the advisory lock and the races are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_many_concurrent_requests_with_one_key_create_exactly_one_task(self, user):
        clients = []
        for _ in range(8):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=bearer(user))
            clients.append(client)
        for trial in range(5):
            key = f"race-{trial}"
            responses = race(
                [
                    partial(c.post, LIST, {"title": key}, HTTP_IDEMPOTENCY_KEY=key)
                    for c in clients
                ]
            )
            codes = sorted(r.status_code for r in responses)
            assert set(codes) <= {201, 409}, codes
            assert Task.objects.filter(owner=user, title=key).count() == 1
            created = [r for r in responses if r.status_code == 201]
            assert len({r.json()["id"] for r in created}) == 1
            for response in responses:
                if response.status_code == 409:
                    assert_problem(response, 409, "idempotency-key-in-flight")
            # Once the first has finished, every repeat is a replay of it.
            replay = clients[0].post(LIST, {"title": key}, HTTP_IDEMPOTENCY_KEY=key)
            assert replay.json() == created[0].json()

    def test_a_repeat_while_the_first_runs_is_409(self, user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        holding = threading.Event()
        release = threading.Event()

        def first_still_running() -> None:
            # What the first request's transaction holds while its view runs.
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        [f"idempotency\nuser:{user.pk}\nslow"],
                    )
                    holding.set()
                    assert release.wait(30)
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(first_still_running)
            assert holding.wait(30)
            try:
                response = client.post(
                    LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="slow"
                )
            finally:
                release.set()
            running.result(30)
        assert_problem(response, status.HTTP_409_CONFLICT, "idempotency-key-in-flight")
        assert not Task.objects.exists()
        after = client.post(LIST, {"title": "t"}, HTTP_IDEMPOTENCY_KEY="slow")
        assert after.status_code == status.HTTP_201_CREATED
