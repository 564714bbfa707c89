"""One seed run: users, their lists and labels, their tasks, and the task indexes.

The users, lists, labels, tasks and label links are written in one transaction: a
failed or interrupted load leaves the previous data. On PostgreSQL the tasks are
streamed with COPY, their list ids with them; a load bigger than the table goes in
without the task indexes and foreign keys (:mod:`todos.seeding.indexes`): the keys
are added back before the commit, the indexes are built after it on several
connections side by side. A run interrupted while it builds them leaves the data in
place, and the next run builds the missing indexes before anything else. The label
links follow the tasks, by COPY as well. Elsewhere the tasks and links go through
``bulk_create``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.core.management.base import OutputWrapper
from django.db import connection, transaction
from django.utils import timezone

from todos.seeding import indexes
from todos.seeding.generation import ListedRow, Row, Shelf, TaskGenerator
from todos.seeding.loading import (
    bulk_create_links,
    bulk_create_tasks,
    copy_links,
    copy_tasks,
    create_shelves,
)
from todos.seeding.progress import Progress
from todos.seeding.users import (
    SEED_EMAIL_DOMAIN,
    Owner,
    create_users,
    delete_seed_data,
    seed_users,
)

# From this many new tasks on (and when they outnumber the rows already there), the
# indexes are dropped for the COPY and built afterwards.
BULK_INDEX_THRESHOLD = 100_000


@dataclass(frozen=True)
class Seeded:
    """What a run wrote, and how long it took from the first row to the last index."""

    users: int
    tasks: int
    seconds: float


def seed(
    *,
    users: int,
    tasks_per_user: int,
    heavy_tasks: int,
    scale_users: Sequence[int],
    password: str,
    random_seed: int,
    reset: bool,
    batch_size: int,
    index_workers: int,
    log: Callable[[str], None],
    progress_out: OutputWrapper | None,
) -> Seeded | None:
    """Seed the database; ``None`` (and nothing written) if seed users exist already.

    With ``reset`` the existing seed users and their tasks are replaced. ``log``
    receives one line per step (from the index builders' threads too, one at a
    time); the progress of the load goes to ``progress_out`` (``None``: silent).
    """
    postgresql = connection.vendor == "postgresql"
    lock = threading.Lock()

    def built(name: str, seconds: float) -> None:
        with lock:
            log(f"  built {name} in {seconds:.1f} s")

    if postgresql and (missing := indexes.missing_indexes()):
        # Left by a run interrupted while it built them (after its data committed).
        log(f"Building {len(missing)} missing task indexes first.")
        indexes.build_indexes(missing, workers=index_workers, report=built)
    existing = seed_users().count()
    if existing and not reset:
        log(
            f"Seed data already exists ({existing} users @{SEED_EMAIL_DOMAIN}); "
            "nothing written. Run `manage.py seed --reset` to replace it."
        )
        return None

    generator = TaskGenerator(seed=random_seed, now=int(timezone.now().timestamp()))
    password_hash = make_password(password)
    total = users * tasks_per_user + heavy_tasks + sum(scale_users)

    rebuild: list[str] = []
    with transaction.atomic():
        if existing:
            reset_started = time.perf_counter()
            delete_seed_data()
            log(
                f"Deleted {existing} seed users and their tasks in "
                f"{time.perf_counter() - reset_started:.1f} s."
            )
        progress = Progress(progress_out, total)
        started = progress.started
        owners = create_users(
            counts=[tasks_per_user] * users,
            heavy=heavy_tasks,
            scale=scale_users,
            password=password_hash,
            generator=generator,
        )
        shelves = [
            generator.shelf(user.pk, shelf_rng) for user, _, _, shelf_rng in owners
        ]
        create_shelves(shelves)
        rows = _rows(owners, shelves, generator)
        links = (link for shelf in shelves for link in shelf.links)
        if not postgresql:
            bulk_create_tasks(rows, batch_size=batch_size, progress=progress)
            bulk_create_links(links, batch_size=batch_size)
        elif total >= max(BULK_INDEX_THRESHOLD, indexes.table_size_estimate()):
            with indexes.without_indexes() as rebuild:
                copy_tasks(rows, batch_size=batch_size, progress=progress)
            copy_links(links, batch_size=batch_size)
        else:
            copy_tasks(rows, batch_size=batch_size, progress=progress)
            copy_links(links, batch_size=batch_size)
    progress.finish()
    if rebuild:
        loaded = time.perf_counter() - started
        log(
            f"Loaded {total:,} tasks in {loaded:.1f} s; building "
            f"{len(rebuild)} indexes on {index_workers} connections."
        )
        indexes.build_indexes(rebuild, workers=index_workers, report=built)
    return Seeded(users=len(owners), tasks=total, seconds=time.perf_counter() - started)


def _rows(
    owners: list[Owner], shelves: list[Shelf], generator: TaskGenerator
) -> Iterator[Row | ListedRow]:
    for (user, rng, count, _), shelf in zip(owners, shelves, strict=True):
        yield from generator.tasks(user.pk, count, rng, shelf)
