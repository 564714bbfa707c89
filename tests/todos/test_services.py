"""todos.services under real concurrency (PostgreSQL).

Each test holds the owner's change counter in another transaction, as a writer
that has claimed its number and not committed yet, and starts a write, which
waits for the counter: no write may lock the task's row before it (the order
every writer takes, or two of them deadlock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from threading import Event
from typing import Any

import pytest
from django.db import connection, transaction

from tests.factories import TaskFactory
from todos import services
from todos.models import Label, Task, claim_change_seq

pytestmark = [
    pytest.mark.postgres(reason="SQLite runs one writer at a time"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def _in_thread(pool: ThreadPoolExecutor, call: Callable[[], Any]) -> Future[Any]:
    def run() -> Any:
        try:
            return call()
        finally:
            connection.close()

    return pool.submit(run)


@contextmanager
def _counter_held(
    pool: ThreadPoolExecutor, owner: Any, then: Callable[[int], None] = lambda _: None
) -> Iterator[None]:
    """Another writer of ``owner``: claims a number, does ``then`` with it, and
    commits when the block ends."""
    ready, release = Event(), Event()

    def writer() -> None:
        with transaction.atomic():
            then(claim_change_seq(owner.pk))
            ready.set()
            assert release.wait(30)

    held = _in_thread(pool, writer)
    assert ready.wait(30)
    try:
        yield
    finally:
        release.set()
        held.result(30)


def _waits_for_a_lock(write: Future[Any]) -> None:
    """Until a backend waits for a lock: ``write`` has read and waits its turn."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                assert not write.done()
                return
            time.sleep(0.01)
    raise AssertionError("the write never waited for the counter")


def _row_is_unlocked(task: Task) -> bool:
    with transaction.atomic():
        try:
            Task.objects.select_for_update(nowait=True).filter(pk=task.pk).first()
        except Exception:
            return False
        return True


def _writes(task: Task, label: Label) -> dict[str, Callable[[], Any]]:
    return {
        "patch": lambda: services.task_update(task=task, changes={"title": "x"}),
        "labels": lambda: services.task_update(
            task=task, changes={"labels": [label.pk]}
        ),
        "move": lambda: services.task_move(task=task, to="top"),
        "delete": lambda: services.task_delete(task=task),
    }


@pytest.mark.parametrize(
    "write",
    ["patch", "labels", "move", "delete"],
)
def test_a_write_takes_the_owners_counter_before_the_tasks_row(user, pool, write):
    TaskFactory.create(owner=user)  # the move has a neighbour to pass
    task = TaskFactory.create(owner=user)
    label = Label.objects.create(owner=user, name="l")

    with _counter_held(pool, user):
        waiting = _in_thread(pool, _writes(task, label)[write])
        _waits_for_a_lock(waiting)
        # A writer holding the counter may still lock the row: no deadlock.
        assert _row_is_unlocked(task)
    waiting.result(30)
