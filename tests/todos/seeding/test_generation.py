"""Generated tasks: reproducibility, variety and the task invariants."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from tests.support.seeding import run_seed, seed_tasks, snapshot
from todos.models import Task
from todos.seeding import scale_user_email, seed_user_email, seed_users

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def test_the_same_seed_gives_each_user_position_the_same_tasks():
    run_seed(users=3, tasks_per_user=30, seed=7)
    first = snapshot()
    run_seed(users=3, tasks_per_user=30, seed=7, reset=True)
    again = snapshot()
    run_seed(users=3, tasks_per_user=30, seed=8, reset=True)
    other = snapshot()

    assert again == first
    assert other.keys() == first.keys()
    for email in first:
        assert other[email] != first[email]


def test_a_users_tasks_do_not_depend_on_how_many_users_are_seeded():
    run_seed(users=2, tasks_per_user=25, seed=3)
    two = snapshot()
    run_seed(users=4, tasks_per_user=25, seed=3, reset=True)
    four = snapshot()

    assert {email: four[email] for email in two} == two
    assert four[seed_user_email(1)] != four[seed_user_email(2)]


def test_a_scale_users_tasks_do_not_depend_on_the_other_sizes():
    run_seed("--scale-users", "30", users=0, seed=4)
    alone = snapshot()
    run_seed("--scale-users", "10,30", users=2, tasks_per_user=3, seed=4, reset=True)

    assert snapshot()[scale_user_email(30)] == alone[scale_user_email(30)]


def test_a_moderate_seed_has_every_status_priority_and_a_mix_of_lengths():
    run_seed(users=4, tasks_per_user=100)
    tasks = list(seed_tasks())

    assert {t.status for t in tasks} == set(Task.Status.values)
    assert {t.priority for t in tasks} == set(Task.Priority.values)
    share_due = sum(t.due_at is not None for t in tasks) / len(tasks)
    assert 0.5 <= share_due <= 0.7
    share_done = sum(t.status == Task.Status.COMPLETED for t in tasks) / len(tasks)
    assert 0.2 <= share_done <= 0.7
    assert len({len(t.title) for t in tasks}) >= 20
    description_lengths = [len(t.description) for t in tasks]
    assert 0 in description_lengths
    assert any(0 < n <= 300 for n in description_lengths)
    assert any(n > 600 for n in description_lengths)
    created = [t.created_at for t in tasks]
    assert max(created) - min(created) > 250 * DAY


def test_descriptions_keep_their_paragraph_breaks():
    run_seed(users=4, tasks_per_user=100)
    descriptions = list(seed_tasks().values_list("description", flat=True))

    assert any("\n\n" in text for text in descriptions)
    assert not any("\\" in text or "\t" in text for text in descriptions)


def test_every_seeded_task_satisfies_the_task_invariants():
    before = timezone.now().replace(microsecond=0)
    run_seed(users=3, tasks_per_user=100, heavy_tasks=100)
    after = timezone.now()
    tasks = list(seed_tasks())

    assert len(tasks) == 400
    for task in tasks:
        assert (task.status == Task.Status.COMPLETED) == (task.completed_at is not None)
        assert before - 366 * DAY <= task.created_at <= task.updated_at <= after
        if task.completed_at is not None:
            assert task.created_at <= task.completed_at <= task.updated_at
        if task.due_at is not None:
            assert before - 61 * DAY <= task.due_at <= after + 120 * DAY
        assert task.version == 1
        assert task.id.version == 7
        assert 0 < len(task.title.strip()) == len(task.title) <= 255
        assert len(task.description) <= 2_000
        assert task.description == task.description.strip()


def test_ids_follow_creation_time_within_each_owner():
    run_seed(users=3, tasks_per_user=50)

    for user in seed_users():
        by_created = list(
            user.tasks.order_by("created_at", "id").values_list("id", flat=True)
        )
        assert by_created == sorted(by_created, key=lambda value: value.bytes)
