"""Generated tasks, lists and labels: reproducibility, variety, the invariants."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from tests.support.seeding import run_seed, seed_tasks, shelves_snapshot, snapshot
from todos.models import POSITION_GAP, Color, Task, TaskLabel
from todos.seeding import (
    TaskGenerator,
    scale_user_email,
    seed_user_email,
    seed_users,
)
from todos.seeding.generation import (
    LABEL_NAMES,
    LABEL_SHARE,
    LABELS_MAX,
    LABELS_MIN,
    LIST_NAMES,
    LIST_SHARE,
    LISTS_MAX,
    LISTS_MIN,
)

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


def test_the_same_seed_gives_each_user_the_same_lists_labels_and_placements():
    run_seed(users=3, tasks_per_user=40, seed=7)
    first = shelves_snapshot()
    run_seed(users=3, tasks_per_user=40, seed=7, reset=True)
    again = shelves_snapshot()
    run_seed(users=3, tasks_per_user=40, seed=8, reset=True)
    other = shelves_snapshot()

    assert again == first
    assert other != first
    assert any(task[1] is not None for task in first[seed_user_email(1)]["tasks"])


def test_lists_and_labels_leave_the_tasks_themselves_as_the_seed_made_them():
    # The places are drawn from a generator of their own: the titles, statuses and
    # descriptions of a seed stay what they were before users had lists.
    run_seed(users=2, tasks_per_user=30, seed=5)
    tasks = snapshot()
    generator = TaskGenerator(seed=5, now=0)
    owner = uuid.uuid4()
    plain = list(generator.tasks(owner, 30, generator.rng_for(1)))
    shelf = generator.shelf(owner, generator.rng_for("1:shelf"))
    placed = list(generator.tasks(owner, 30, generator.rng_for(1), shelf))

    assert [row[2:6] for row in placed] == [row[2:6] for row in plain]
    assert [task[:2] for task in tasks[seed_user_email(1)]] == [
        row[2:4] for row in plain
    ]


def test_each_user_gets_a_few_named_coloured_lists_and_labels():
    run_seed(users=12, tasks_per_user=0, heavy_tasks=1)

    for user in seed_users():
        lists = list(user.task_lists.order_by("position"))
        labels = list(user.labels.all())
        assert LISTS_MIN <= len(lists) <= LISTS_MAX
        assert LABELS_MIN <= len(labels) <= LABELS_MAX
        assert {tl.name for tl in lists} <= set(LIST_NAMES)
        assert {label.name for label in labels} <= set(LABEL_NAMES)
        assert all(tl.color in Color.values for tl in lists)
        assert all(label.color in {*Color.values, None} for label in labels)
        assert len({tl.color for tl in lists}) == len(lists)
        assert [tl.position for tl in lists] == [
            n * POSITION_GAP for n in range(1, len(lists) + 1)
        ]
    counts = {user.task_lists.count() for user in seed_users()}
    assert len(counts) > 1  # 3 to 5, not always the same


def test_a_realistic_share_of_tasks_is_in_lists_and_carries_labels():
    run_seed(users=4, tasks_per_user=250)
    tasks = seed_tasks()
    total = tasks.count()
    in_lists = tasks.filter(list__isnull=False).count()
    labelled = tasks.filter(label_links__isnull=False).distinct().count()
    links = TaskLabel.objects.filter(task__in=tasks).count()

    assert total == 1_000
    assert LIST_SHARE - 0.06 <= in_lists / total <= LIST_SHARE + 0.06
    assert LABEL_SHARE - 0.06 <= labelled / total <= LABEL_SHARE + 0.06
    # Mostly one label, sometimes two or three.
    assert 1.1 <= links / labelled <= 1.6
    assert tasks.filter(list__isnull=True).exists()
