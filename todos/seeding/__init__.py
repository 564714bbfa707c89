"""Realistic, reproducible demo data for development and load tests.

``manage.py seed`` is a thin command over this package:

* :mod:`~todos.seeding.users`: the seed users' emails, their creation and removal;
* :mod:`~todos.seeding.generation`: plausible tasks as rows, and each user's lists
  and labels and the tasks' places in them, the same for a seed;
* :mod:`~todos.seeding.loading`: rows into the tables, by COPY on PostgreSQL;
* :mod:`~todos.seeding.indexes`: the task indexes dropped for a big load, rebuilt;
* :mod:`~todos.seeding.progress`: the progress line of a load;
* :mod:`~todos.seeding.runner`: one run, putting them together.
"""

from todos.seeding.generation import Row, TaskGenerator
from todos.seeding.loading import bulk_create_tasks, copy_tasks
from todos.seeding.progress import Progress
from todos.seeding.runner import Seeded, seed
from todos.seeding.users import (
    DEFAULT_PASSWORD,
    HEAVY_USER_EMAIL,
    SEED_EMAIL_DOMAIN,
    scale_user_email,
    seed_user_email,
    seed_users,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "HEAVY_USER_EMAIL",
    "SEED_EMAIL_DOMAIN",
    "Progress",
    "Row",
    "Seeded",
    "TaskGenerator",
    "bulk_create_tasks",
    "copy_tasks",
    "scale_user_email",
    "seed",
    "seed_user_email",
    "seed_users",
]
