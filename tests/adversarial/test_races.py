"""Concurrent writes to one task: no lost updates, and If-Match lets one writer win."""

from __future__ import annotations

from functools import partial

import pytest
from django.urls import reverse
from rest_framework import status
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import bearer
from tests.factories import TaskFactory
from tests.support.races import race
from todos.models import Task

pytestmark = [
    pytest.mark.postgres(reason="SQLite serialises writers; the races need real ones"),
    pytest.mark.django_db(transaction=True),
]


def detail(task_id: object) -> str:
    return reverse("todos:task-detail", args=[task_id])


def _clients(user: User, count: int) -> list[APIClient]:
    """One authenticated client per thread: test clients are not shared."""
    clients = []
    for _ in range(count):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        clients.append(client)
    return clients


def test_concurrent_patches_of_different_fields_both_survive(user):
    titler, describer = _clients(user, 2)
    for trial in range(200):
        task = TaskFactory.create(owner=user, title="old title", description="old")
        start = task.version
        url = detail(task.pk)

        responses = race(
            [
                partial(titler.patch, url, {"title": f"title {trial}"}),
                partial(describer.patch, url, {"description": f"text {trial}"}),
            ]
        )

        codes = [r.status_code for r in responses]
        assert codes == [200, 200], f"trial {trial}: {codes}"
        fresh = Task.objects.get(pk=task.pk)
        assert (fresh.title, fresh.description, fresh.version) == (
            f"title {trial}",
            f"text {trial}",
            start + 2,
        ), f"trial {trial}"
        # The last response to be written carries the row as it now stands.
        tags = {r["ETag"] for r in responses}
        assert f'"{task.pk}.{start + 2}"' in tags, f"trial {trial}: {tags}"


def test_concurrent_if_match_patches_with_one_etag_let_exactly_one_win(user):
    writers = 16
    clients = _clients(user, writers)
    for trial in range(10):
        task = TaskFactory.create(owner=user, title="original")
        etag = clients[0].get(detail(task.pk))["ETag"]

        responses = race(
            [
                partial(
                    client.patch,
                    detail(task.pk),
                    {"title": f"writer {i}"},
                    HTTP_IF_MATCH=etag,
                )
                for i, client in enumerate(clients)
            ]
        )

        codes = [r.status_code for r in responses]
        assert sorted(codes) == [200] + [412] * (writers - 1), f"trial {trial}"
        winner = codes.index(status.HTTP_200_OK)
        fresh = Task.objects.get(pk=task.pk)
        assert (fresh.title, fresh.version) == (f"writer {winner}", task.version + 1)
        assert responses[winner].json()["title"] == f"writer {winner}"
        assert responses[winner]["ETag"] == f'"{task.pk}.{fresh.version}"'
        for loser in (r for r in responses if r.status_code != status.HTTP_200_OK):
            assert loser["Content-Type"] == "application/problem+json"
            assert loser.json()["type"] == "urn:taskapi:problem:precondition-failed"
