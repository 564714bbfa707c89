"""The seed users: who they are, how they are made, and how a reset removes them.

Every seed user's email ends in ``@seed.example.com``; nothing else is ever touched.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from todos.models import Task
from todos.seeding.generation import DAY, YEAR, TaskGenerator, utc_datetime

SEED_EMAIL_DOMAIN = "seed.example.com"
HEAVY_USER_EMAIL = f"heavy@{SEED_EMAIL_DOMAIN}"
DEFAULT_PASSWORD = "seed-password-123"  # noqa: S105 - a documented demo password

DELETE_SEED_TASKS_SQL = (
    "DELETE FROM todos_task WHERE owner_id IN "
    "(SELECT id FROM accounts_user WHERE lower(email) LIKE %s)"
)

# A user, the generator of its tasks, and how many tasks it gets.
Owner = tuple[User, random.Random, int]


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
    user's generator depends only on the seed and the user's place (its number,
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
        )
        for email, name, position, count in plan
    ]
    User.objects.bulk_create([user for user, _, _ in owners], batch_size=1_000)
    return owners


def delete_seed_data() -> None:
    """Delete the seed users and their tasks; the tasks first, in one statement.

    The ORM's cascade would fetch every task before deleting it.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(DELETE_SEED_TASKS_SQL, [f"%@{SEED_EMAIL_DOMAIN}"])
    else:
        Task.objects.filter(owner__in=seed_users()).delete()
    seed_users().delete()
