"""todos.services: the single-task writes that read nothing first, on both
backends, and under real concurrency on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from threading import Event
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.factories import TaskFactory
from todos import services
from todos.models import (
    ChangeSequence,
    Label,
    Task,
    TaskLabel,
    TaskTombstone,
    claim_change_seq,
)

pytestmark = pytest.mark.django_db


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


def _their_change(task: Task, label: Label) -> Callable[[int], None]:
    def change(seq: int) -> None:
        Task.objects.filter(pk=task.pk).update(description="theirs", change_seq=seq)
        TaskLabel.objects.create(owner_id=task.owner_id, task=task, label=label)

    return change


def _writes(task: Task, label: Label) -> dict[str, Callable[[], Any]]:
    rows = Task.objects.filter(owner_id=task.owner_id, pk=task.pk)
    return {
        "patch": lambda: services.task_update_one(rows=rows, changes={"title": "x"}),
        "labels": lambda: services.task_update(
            task=task, changes={"labels": [label.pk]}
        ),
        "labels, one statement first": lambda: services.task_update_one(
            rows=rows.with_label_ids(), changes={"labels": [label.pk]}
        ),
        "complete": lambda: services.task_update_one(
            rows=rows, changes={"status": "completed"}
        ),
        "move": lambda: services.task_move(task=task, to="top"),
        "delete": lambda: services.task_delete_one(rows=rows),
    }


HOSTILE = "x'); DELETE FROM todos_task; -- \\ %s %(a)s {snap} \u00e9"


def test_values_travel_as_parameters_never_as_sql(user):
    task = services.task_create(owner=user, title=HOSTILE, description=HOSTILE)
    rows = Task.objects.filter(owner=user, pk=task.pk)
    changed = services.task_update_one(
        rows=rows, changes={"title": HOSTILE + "!", "description": HOSTILE + "?"}
    )
    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.description) == (HOSTILE + "!", HOSTILE + "?")
    assert (changed.title, changed.version) == (stored.title, stored.version)
    services.task_delete_one(rows=rows)
    assert not Task.objects.filter(owner=user).exists()


class _Check:
    """A services.Condition on nothing but its parameter, counting its matches."""

    def __init__(self, holds: bool) -> None:
        self.sql, self.params, self.db = "1 = %s", [1 if holds else 0], "default"
        self.matches = 0

    def matched(self) -> None:
        self.matches += 1


@pytest.mark.parametrize("labelled", [False, True])
def test_a_create_with_an_owner_check_writes_only_while_it_holds(user, labelled):
    label = Label.objects.create(owner=user, name="l")
    labels = [label.pk] if labelled else []
    seq = ChangeSequence.objects.get(owner=user).last_seq
    refused = _Check(holds=False)

    with pytest.raises(services.OwnerRefused):
        services.task_create(
            owner_id=user.pk, owner_check=refused, title="No", labels=labels
        )

    assert refused.matches == 0
    assert not Task.objects.filter(owner=user).exists()
    assert not TaskLabel.objects.filter(owner=user).exists()
    assert ChangeSequence.objects.get(owner=user).last_seq == seq

    held = _Check(holds=True)
    task = services.task_create(
        owner_id=user.pk, owner_check=held, title="Yes", labels=labels
    )

    assert held.matches == 1
    stored = Task.objects.get(owner=user)
    assert (stored.pk, stored.title, stored.change_seq) == (task.pk, "Yes", seq + 1)
    assert services.task_labels(task) == [str(pk) for pk in labels]


def test_a_write_answers_the_row_as_the_orm_reads_it(user):
    label = Label.objects.create(owner=user, name="l")
    task = services.task_create(
        owner=user, title="t", due_at=timezone.now(), labels=[label.pk]
    )
    created = Task.objects.with_label_ids().get(pk=task.pk)
    rows = Task.objects.filter(owner=user, pk=task.pk)
    changed = services.task_update_one(rows=rows, changes={"status": "completed"})
    stored = Task.objects.with_label_ids().get(pk=task.pk)
    for field in Task._meta.concrete_fields:
        # SQLite's trigger places a new task after the INSERT has returned its
        # row (todos.expressions.NextTaskPosition); the position is not shown.
        if field.attname != "position" or connection.vendor != "sqlite":
            assert getattr(task, field.attname) == getattr(created, field.attname)
        assert getattr(changed, field.attname) == getattr(stored, field.attname)
    assert services.task_labels(task) == services.task_labels(created)
    assert services.task_labels(changed) == services.task_labels(stored)
    assert services.task_labels(stored) == [str(label.pk)]


def test_nothing_to_change_is_no_write(user):
    task = TaskFactory.create(owner=user, title="same")
    rows = Task.objects.filter(owner=user, pk=task.pk)
    seq = ChangeSequence.objects.get(owner=user).last_seq

    same = services.task_update_one(rows=rows, changes={"title": "same"})
    reopened = services.task_update_one(
        rows=rows, changes={"status": "pending"}, when={"status": "completed"}
    )

    assert same.version == reopened.version == task.version
    assert ChangeSequence.objects.get(owner=user).last_seq == seq


def test_the_lookup_may_join_and_may_be_empty(user):
    task = TaskFactory.create(owner=user)
    label = Label.objects.create(owner=user, name="l")
    TaskLabel.objects.create(owner=user, task=task, label=label)
    mine = Task.objects.filter(owner=user, pk=task.pk)

    # A filter through the links: Django writes the whole SELECT.
    joined = mine.filter(label_links__label=label).with_label_ids()
    changed = services.task_update_one(rows=joined, changes={"title": "j"})
    assert (changed.title, services.task_labels(changed)) == ("j", [str(label.pk)])
    # No row can match: no statement needed to say so.
    for none in (mine.filter(pk__in=[]), mine.filter(label_links__label=None)):
        with pytest.raises(services.TaskGone):
            services.task_update_one(rows=none, changes={"title": "x"})
        with pytest.raises(services.TaskGone):
            services.task_delete_one(rows=none)
    # Conditions that hold for every row (the whole table, one task in it).
    for every in (Task.objects.all(), Task.objects.exclude(pk__in=[])):
        assert services.task_update_one(rows=every, changes={}).pk == task.pk
    services.task_delete_one(rows=joined, versions={changed.version})
    assert not Task.objects.exists()


@pytest.mark.postgres(reason="the shortcut is PostgreSQL's")
def test_postgresql_gives_task_columns_as_the_orm_reads_them():
    """services._converted leaves PostgreSQL's values as they come: Django has
    no converter for any of Task's columns there."""
    for field in Task._meta.concrete_fields:
        col = field.get_col(Task._meta.db_table)
        converters = connection.ops.get_db_converters(col)
        assert converters + col.get_db_converters(connection) == [], field.name


@pytest.mark.postgres(reason="SQLite runs one writer at a time")
@pytest.mark.django_db(transaction=True)
class TestUnderConcurrency:
    """Each test holds the owner's change counter in another transaction, as a
    writer that has claimed its number and not committed yet, and starts a write:
    the write reads the task, then waits for the counter. What that writer
    committed meanwhile must be kept and shown, and no write may lock the task's
    row before the counter (the order every writer takes, or two deadlock)."""

    def test_a_change_committed_while_a_patch_waits_is_kept_and_shown(self, user, pool):
        task = TaskFactory.create(owner=user, title="old", description="old")
        label = Label.objects.create(owner=user, name="theirs")
        rows = Task.objects.filter(owner=user, pk=task.pk)

        with _counter_held(pool, user, then=_their_change(task, label)):
            write = _in_thread(
                pool,
                lambda: services.task_update_one(rows=rows, changes={"title": "mine"}),
            )
            _waits_for_a_lock(write)
        written = write.result(30)

        stored = Task.objects.get(pk=task.pk)
        assert (stored.title, stored.description) == ("mine", "theirs")
        # The answer is the row as stored, labels included: one ETag, one state.
        assert (written.title, written.description, written.version) == (
            "mine",
            "theirs",
            task.version + 2,
        )
        assert stored.version == written.version
        assert services.task_labels(written) == [str(label.pk)]
        assert written.change_seq == stored.change_seq > 0

    def test_an_if_match_patch_that_waited_for_a_change_is_refused(self, user, pool):
        task = TaskFactory.create(owner=user, title="old")
        label = Label.objects.create(owner=user, name="theirs")
        rows = Task.objects.filter(owner=user, pk=task.pk)

        with _counter_held(pool, user, then=_their_change(task, label)):
            write = _in_thread(
                pool,
                lambda: services.task_update_one(
                    rows=rows, changes={"title": "mine"}, versions={task.version}
                ),
            )
            _waits_for_a_lock(write)
        with pytest.raises(services.VersionMismatch):
            write.result(30)
        assert Task.objects.get(pk=task.pk).title == "old"

    @pytest.mark.parametrize("if_match", [False, True])
    def test_a_delete_that_waited_for_a_change(self, user, pool, if_match):
        task = TaskFactory.create(owner=user)
        label = Label.objects.create(owner=user, name="theirs")
        rows = Task.objects.filter(owner=user, pk=task.pk)
        versions = {task.version} if if_match else None

        with _counter_held(pool, user, then=_their_change(task, label)):
            write = _in_thread(
                pool, lambda: services.task_delete_one(rows=rows, versions=versions)
            )
            _waits_for_a_lock(write)

        if if_match:
            with pytest.raises(services.VersionMismatch):
                write.result(30)
            assert Task.objects.filter(pk=task.pk).exists()
        else:
            write.result(30)
            assert not Task.objects.filter(pk=task.pk).exists()
            assert not TaskLabel.objects.filter(task_id=task.pk).exists()
            assert TaskTombstone.objects.filter(task_id=task.pk).exists()

    @pytest.mark.parametrize(
        "write",
        [
            "patch",
            "labels",
            "labels, one statement first",
            "complete",
            "move",
            "delete",
        ],
    )
    def test_a_write_takes_the_owners_counter_before_the_tasks_row(
        self, user, pool, write
    ):
        TaskFactory.create(owner=user)  # the move has a neighbour to pass
        task = TaskFactory.create(owner=user)
        label = Label.objects.create(owner=user, name="l")

        with _counter_held(pool, user):
            waiting = _in_thread(pool, _writes(task, label)[write])
            _waits_for_a_lock(waiting)
            # A writer holding the counter may still lock the row: no deadlock.
            assert _row_is_unlocked(task)
        waiting.result(30)
