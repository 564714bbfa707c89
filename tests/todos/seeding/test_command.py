"""``manage.py seed``'s options: defaults, refusals and ``--quiet``."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from tests.support.seeding import run_seed, seed_tasks
from todos.seeding import seed_users

pytestmark = pytest.mark.django_db


def test_the_defaults_are_ten_users_with_a_hundred_tasks_each():
    run_seed()

    assert seed_users().count() == 10
    assert seed_tasks().count() == 1_000


def test_a_negative_count_is_refused():
    with pytest.raises(CommandError, match="negative"):
        run_seed("--users", "-1")
    assert not seed_users().exists()


@pytest.mark.parametrize("sizes", ["10,10", "10,-1", "ten"])
def test_repeated_or_invalid_scale_sizes_are_refused(sizes):
    with pytest.raises(CommandError, match="scale-users"):
        run_seed("--scale-users", sizes)
    assert not seed_users().exists()


def test_quiet_turns_the_progress_off():
    _, err = run_seed(users=2, tasks_per_user=100, batch_size=20, quiet=True)

    assert err == ""
