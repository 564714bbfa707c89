"""A seed run: what it creates, and what a second run does."""

from __future__ import annotations

import pytest
from django.db.models import F

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from tests.support.seeding import run_seed, seed_tasks
from todos.models import Label, Task, TaskLabel, TaskList
from todos.seeding import (
    HEAVY_USER_EMAIL,
    scale_user_email,
    seed_user_email,
    seed_users,
)

pytestmark = pytest.mark.django_db


def test_seed_creates_the_requested_users_and_tasks_per_user():
    out, _ = run_seed(users=3, tasks_per_user=20)

    emails = sorted(seed_users().values_list("email", flat=True))
    assert emails == [seed_user_email(n) for n in (1, 2, 3)]
    assert emails[0] == "seed-user-00001@seed.example.com"
    for user in seed_users():
        assert user.tasks.count() == 20
    assert not User.objects.filter(email=HEAVY_USER_EMAIL).exists()
    assert "Seeded 3 users and 60 tasks" in out


def test_heavy_tasks_adds_one_user_with_that_many_tasks():
    out, _ = run_seed(users=2, tasks_per_user=5, heavy_tasks=120)

    heavy = User.objects.get(email=HEAVY_USER_EMAIL)
    assert heavy.tasks.count() == 120
    assert seed_users().count() == 3
    assert seed_tasks().count() == 2 * 5 + 120
    assert "Seeded 3 users and 130 tasks" in out


def test_scale_users_get_exactly_the_listed_numbers_of_tasks():
    out, _ = run_seed(
        "--scale-users", "5,40,0", users=1, tasks_per_user=2, heavy_tasks=3
    )

    counts = {
        email: User.objects.get(email=email).tasks.count()
        for email in (scale_user_email(5), scale_user_email(40), scale_user_email(0))
    }
    assert counts == {
        "scale-5@seed.example.com": 5,
        "scale-40@seed.example.com": 40,
        "scale-0@seed.example.com": 0,
    }
    assert User.objects.get(email=HEAVY_USER_EMAIL).tasks.count() == 3
    assert "Seeded 5 users and 50 tasks" in out


def test_a_second_run_without_reset_writes_nothing_and_says_how_to_reseed():
    run_seed(users=2, tasks_per_user=10)
    user_ids = set(seed_users().values_list("id", flat=True))
    task_ids = set(seed_tasks().values_list("id", flat=True))

    out, _ = run_seed(users=5, tasks_per_user=50, heavy_tasks=10)

    assert "already exists" in out
    assert "--reset" in out
    assert set(seed_users().values_list("id", flat=True)) == user_ids
    assert set(seed_tasks().values_list("id", flat=True)) == task_ids


def test_reset_replaces_seed_data_and_leaves_other_users_alone():
    other = UserFactory.create()
    kept = {t.pk: t.title for t in TaskFactory.create_batch(3, owner=other)}
    run_seed(users=3, tasks_per_user=10, heavy_tasks=15)
    old_task_ids = set(seed_tasks().values_list("id", flat=True))

    out, _ = run_seed(users=2, tasks_per_user=7, reset=True)

    assert "Deleted 4 seed users" in out
    assert seed_users().count() == 2
    assert not User.objects.filter(email=HEAVY_USER_EMAIL).exists()
    assert seed_tasks().count() == 14
    assert old_task_ids.isdisjoint(seed_tasks().values_list("id", flat=True))
    assert Task.objects.count() == 14 + 3
    assert User.objects.filter(pk=other.pk).exists()
    assert dict(other.tasks.values_list("id", "title")) == kept


def test_reset_without_earlier_seed_data_just_seeds():
    out, _ = run_seed(users=1, tasks_per_user=3, reset=True)

    assert "Deleted" not in out
    assert seed_tasks().count() == 3


def test_every_seeded_tasks_list_and_labels_are_its_owners():
    run_seed(users=3, tasks_per_user=60, heavy_tasks=80)

    tasks = seed_tasks()
    assert tasks.filter(list__isnull=False).exists()
    assert not tasks.filter(list__isnull=False).exclude(list__owner=F("owner")).exists()
    links = TaskLabel.objects.filter(task__in=tasks)
    assert links.exists()
    assert not links.exclude(label__owner=F("task__owner")).exists()
    assert not links.exclude(owner=F("task__owner")).exists()
    for user in seed_users():
        assert user.task_lists.exists()
        assert user.labels.exists()


def test_seeded_tasks_have_distinct_places_in_their_lists_and_inboxes():
    run_seed(users=2, tasks_per_user=80)

    for user in seed_users():
        for tasks in (
            user.tasks.filter(list__isnull=True),
            *(task_list.tasks.all() for task_list in user.task_lists.all()),
        ):
            positions = list(tasks.values_list("position", flat=True))
            assert len(set(positions)) == len(positions)


def test_reset_deletes_the_seed_lists_and_labels_and_keeps_other_users():
    other = UserFactory.create()
    kept_list = TaskList.objects.create(owner=other, name="Work", position=1)
    kept_label = Label.objects.create(owner=other, name="urgent")
    kept_task = TaskFactory.create(owner=other, list=kept_list)
    kept_task.labels.add(kept_label, through_defaults={"owner": other})
    run_seed(users=3, tasks_per_user=20)
    old_lists = set(TaskList.objects.exclude(owner=other).values_list("id", flat=True))
    old_labels = set(Label.objects.exclude(owner=other).values_list("id", flat=True))
    assert old_lists
    assert old_labels

    run_seed(users=1, tasks_per_user=5, reset=True)

    lists = set(TaskList.objects.exclude(owner=other).values_list("id", flat=True))
    labels = set(Label.objects.exclude(owner=other).values_list("id", flat=True))
    assert lists
    assert labels
    assert old_lists.isdisjoint(lists)
    assert old_labels.isdisjoint(labels)
    assert set(seed_users().values_list("task_lists__owner", flat=True)) == set(
        seed_users().values_list("id", flat=True)
    )
    assert list(other.task_lists.all()) == [kept_list]
    assert list(other.labels.all()) == [kept_label]
    assert list(Task.objects.get(pk=kept_task.pk).labels.all()) == [kept_label]
    assert (
        TaskLabel.objects.exclude(owner=other).count()
        == TaskLabel.objects.filter(owner__in=seed_users()).count()
    )
