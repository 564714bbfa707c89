"""The seed users: their shared password and their removal on a reset."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.seeding import run_seed, seed_tasks
from todos.models import TaskList
from todos.seeding import HEAVY_USER_EMAIL, seed_user_email, seed_users

pytestmark = pytest.mark.django_db


def test_seeded_users_sign_in_with_the_shared_password():
    run_seed(users=2, tasks_per_user=1, heavy_tasks=1, password="let-me-in-please")

    for email in (seed_user_email(1), seed_user_email(2), HEAVY_USER_EMAIL):
        user = authenticate(email=email, password="let-me-in-please")
        assert user is not None
        assert user.get_username() == email
    assert authenticate(email=seed_user_email(1), password="seed-password-123") is None
    # Hashed once and shared: a per-user salt would make every hash different.
    assert len(set(seed_users().values_list("password", flat=True))) == 1


@pytest.mark.postgres(reason="the ORM emulates the cascade elsewhere")
def test_reset_on_postgresql_deletes_the_seed_tasks_in_one_statement_first():
    run_seed(users=3, tasks_per_user=10)

    with CaptureQueriesContext(connection) as queries:
        run_seed(users=1, tasks_per_user=1, reset=True)

    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert deletes[0].startswith("DELETE FROM todos_task WHERE owner_id IN (SELECT")
    assert "@seed.example.com" in deletes[0]
    assert seed_tasks().count() == 1
    assert deletes[1].startswith("DELETE FROM todos_tasklist WHERE owner_id IN")
    assert deletes[2].startswith("DELETE FROM todos_label WHERE owner_id IN")
    assert TaskList.objects.filter(owner__in=seed_users()).count() >= 3
    assert TaskList.objects.exclude(owner__in=seed_users()).count() == 0
