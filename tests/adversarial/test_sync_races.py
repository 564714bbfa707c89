"""The changes feed under real concurrency: no change is missed, whatever commits when.

A feed keyed on timestamps misses a transaction that started (and stamped its rows)
before another but committed after a client synced past it. Here the change sequence
is claimed under a row lock held to commit, so a second writer of the same user waits
for the first, and a reader never sees a larger number before a smaller one.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import bearer
from tests.factories import TaskFactory
from tests.support.races import race
from todos import services
from todos.models import Task

pytestmark = [
    pytest.mark.postgres(reason="SQLite serialises writers; the races need real ones"),
    pytest.mark.django_db(transaction=True),
]

CHANGES = reverse("todos:task-changes")


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def _apply_page(
    client: APIClient, replica: dict[str, Any], since: str | None, limit: int
):
    params: dict[str, Any] = {"limit": limit}
    if since is not None:
        params["since"] = since
    response = client.get(CHANGES, params)
    assert response.status_code == 200, response.content[:300]
    page = response.json()
    for item in page["changed"]:
        replica[item["task"]["id"]] = (item["task"]["title"], item["etag"])
    for task_id in page["deleted"]:
        replica.pop(task_id, None)
    return page


def _server(user: User) -> dict[str, Any]:
    return {
        str(pk): (title, f'"{pk}.{version}"')
        for pk, title, version in Task.objects.filter(owner=user).values_list(
            "pk", "title", "version"
        )
    }


def test_a_second_writer_waits_for_the_first_and_is_numbered_after_it(user):
    reader = _client(user)
    replica: dict[str, Any] = {}
    token = _apply_page(reader, replica, None, 10)["since"]
    first_wrote = threading.Event()
    release_first = threading.Event()

    def first() -> Task:
        try:
            with transaction.atomic():
                task = services.task_create(owner=user, title="started first")
                first_wrote.set()
                assert release_first.wait(30)
            return task
        finally:
            connection.close()

    def second() -> Task:
        try:
            assert first_wrote.wait(30)
            return services.task_create(owner=user, title="started second")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(first)
        assert first_wrote.wait(30)
        two = pool.submit(second)
        time.sleep(0.5)
        # The second writer cannot number its change while the first is open...
        assert not two.done()
        # ...and a sync now sees neither (the first has not committed).
        page = _apply_page(reader, replica, token, 10)
        assert page["changed"] == []
        release_first.set()
        started_first, started_second = one.result(30), two.result(30)

    assert started_first.change_seq < started_second.change_seq
    page = _apply_page(reader, replica, page["since"], 10)
    assert [item["task"]["title"] for item in page["changed"]] == [
        "started first",
        "started second",
    ]


def test_concurrent_writers_and_a_syncing_client_end_equal(user, other_user):
    """Four writers (one of another user) race a client that syncs all along."""
    initial = TaskFactory.create_batch(20, owner=user)
    TaskFactory.create_batch(5, owner=other_user)
    writers_left = [3]
    lock = threading.Lock()
    replica: dict[str, Any] = {}
    tokens: list[str] = []

    def writer(seed: int, owner: User) -> None:
        rng = random.Random(seed)
        for step in range(40):
            mine = list(Task.objects.filter(owner=owner).values_list("pk", flat=True))
            roll = rng.random()
            if roll < 0.35 or not mine:
                services.task_create(owner=owner, title=f"w{seed} s{step}")
            elif roll < 0.8:
                task = Task.objects.filter(pk=rng.choice(mine)).first()
                if task is not None:
                    with contextlib.suppress(services.TaskGone):
                        services.task_update(
                            task=task, changes={"title": f"w{seed} e{step}"}
                        )
            elif roll < 0.9:
                with transaction.atomic():
                    # Several changes in one transaction, as a bulk request makes.
                    services.task_create(owner=owner, title=f"w{seed} t{step}")
                    Task.objects.filter(pk__in=mine[:3]).update(priority=30)
            else:
                task = Task.objects.filter(pk=rng.choice(mine)).first()
                if task is not None:
                    with contextlib.suppress(services.TaskGone):
                        services.task_delete(task=task)
        if owner == user:
            with lock:
                writers_left[0] -= 1

    def syncing_client() -> None:
        client = _client(user)
        since = None
        while True:
            with lock:
                done = writers_left[0] == 0
            page = _apply_page(client, replica, since, 7)
            since = page["since"]
            tokens.append(since)
            if done and not page["has_more"]:
                return

    race(
        [
            lambda: writer(1, user),
            lambda: writer(2, user),
            lambda: writer(3, user),
            lambda: writer(4, other_user),
            syncing_client,
        ]
    )

    assert len(tokens) > 3
    assert replica == _server(user)
    assert str(initial[0].pk) in replica or not Task.objects.filter(pk=initial[0].pk)
    theirs = {
        str(pk)
        for pk in Task.objects.filter(owner=other_user).values_list("pk", flat=True)
    }
    assert not theirs & set(replica)
