"""The seed users: who they are, how they are made, and how a reset removes them.

Every seed user's email ends in ``@seed.example.com``; nothing else is ever touched.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from todos.models import Label, Task, TaskList
from todos.seeding.generation import DAY, YEAR, TaskGenerator, utc_datetime

SEED_EMAIL_DOMAIN = "seed.example.com"
HEAVY_USER_EMAIL = f"heavy@{SEED_EMAIL_DOMAIN}"
DEFAULT_PASSWORD = "seed-password-123"  # noqa: S105 - a documented demo password

# Tasks first (their label links go with them: the link table's same-owner keys
# cascade), then the lists they were in and the labels.
DELETE_SEED_TASKS_SQL = (
    "DELETE FROM todos_task WHERE owner_id IN "
    "(SELECT id FROM accounts_user WHERE lower(email) LIKE %s)"
)
DELETE_SEED_LISTS_SQL = (
    "DELETE FROM todos_tasklist WHERE owner_id IN "
    "(SELECT id FROM accounts_user WHERE lower(email) LIKE %s)"
)
DELETE_SEED_LABELS_SQL = (
    "DELETE FROM todos_label WHERE owner_id IN "
    "(SELECT id FROM accounts_user WHERE lower(email) LIKE %s)"
)

# A user, the generator of its tasks, how many tasks it gets, and the generator of
# its lists and labels and of its tasks' places in them.
Owner = tuple[User, random.Random, int, random.Random]


def seed_user_email(position: int) -> str:
    """The email of the seeded user at ``position`` (1-based)."""
    return f"seed-user-{position:05d}@{SEED_EMAIL_DOMAIN}"


def scale_user_email(size: int) -> str:
    """The email of the ``--scale-users`` user with ``size`` tasks."""
    return f"scale-{size}@{SEED_EMAIL_DOMAIN}"


def seed_users() -> QuerySet[User]:
    """Every user a seed run made: the email ends in ``@seed.example.com``."""
    return User.objects.filter(email__iendswith=f"@{SEED_EMAIL_DOMAIN}")


def create_users(
    *,
    counts: Sequence[int],
    heavy: int,
    scale: Sequence[int],
    password: str,
    generator: TaskGenerator,
) -> list[Owner]:
    """Create the users (``password`` is already hashed), each with its generator.

    ``counts`` holds the task counts of the numbered users, in order; ``heavy`` is
    the heavy user's (none when 0); ``scale`` the sizes of the scale users. Each
    user's generators depend only on the seed and the user's place (its number,
    ``heavy``, or its size), never on the others.
    """
    joined = utc_datetime(generator.now - YEAR - 30 * DAY)
    plan: list[tuple[str, str, int | str, int]] = [
        (seed_user_email(position), f"Seed User {position:05d}", position, count)
        for position, count in enumerate(counts, start=1)
    ]
    if heavy:
        plan.append((HEAVY_USER_EMAIL, "Heavy Seed User", "heavy", heavy))
    plan += [
        (scale_user_email(size), f"Scale Seed User {size:,}", f"scale-{size}", size)
        for size in scale
    ]
    owners = [
        (
            User(email=email, name=name, password=password, date_joined=joined),
            generator.rng_for(position),
            count,
            generator.rng_for(f"{position}:shelf"),
        )
        for email, name, position, count in plan
    ]
    User.objects.bulk_create([owner[0] for owner in owners], batch_size=1_000)
    return owners


def delete_seed_data() -> None:
    """Delete the seed users, their tasks, lists and labels; the tasks first.

    On PostgreSQL one statement each: the ORM's cascade would fetch every task (and
    every label link) before deleting it.
    """
    if connection.vendor == "postgresql":
        pattern = [f"%@{SEED_EMAIL_DOMAIN}"]
        with connection.cursor() as cursor:
            for sql in (
                DELETE_SEED_TASKS_SQL,
                DELETE_SEED_LISTS_SQL,
                DELETE_SEED_LABELS_SQL,
            ):
                cursor.execute(sql, pattern)
    else:
        Task.objects.filter(owner__in=seed_users()).delete()
        TaskList.objects.filter(owner__in=seed_users()).delete()
        Label.objects.filter(owner__in=seed_users()).delete()
    seed_users().delete()
