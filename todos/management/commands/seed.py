"""``manage.py seed``: realistic, reproducible demo users and tasks.

Creates ``--users`` accounts (``seed-user-00001@seed.example.com`` and so on), each
with ``--tasks-per-user`` tasks, plus an optional ``heavy@seed.example.com`` with
``--heavy-tasks`` tasks for trying the API on one large list, and optional
``scale-<N>@seed.example.com`` users with exactly N tasks each (``--scale-users
1000,10000``) for comparing list costs across sizes. All of them share the password
given by ``--password``. The same ``--seed`` gives every user position the same
titles, descriptions, statuses and priorities; timestamps are relative to the time
of the run, ids are fresh UUIDv7s. The work is done by :mod:`todos.seeding`; this
command only reads the options and reports.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from todos.seeding import DEFAULT_PASSWORD, HEAVY_USER_EMAIL, SEED_EMAIL_DOMAIN, seed


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _distinct_sizes(text: str) -> list[int]:
    sizes = [_non_negative_int(item.strip()) for item in text.split(",") if item]
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError("each size may appear once")
    return sizes


class Command(BaseCommand):
    help = (
        "Create seed users (seed-user-NNNNN@seed.example.com) with realistic tasks for "
        "development and load tests. Does nothing if seed users exist; --reset "
        "replaces them and their tasks. Other users are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--users", type=_non_negative_int, default=10, help="Default: 10."
        )
        parser.add_argument(
            "--tasks-per-user",
            type=_non_negative_int,
            default=100,
            help="Tasks for each seed user. Default: 100.",
        )
        parser.add_argument(
            "--heavy-tasks",
            type=_non_negative_int,
            default=0,
            help=f"Also create {HEAVY_USER_EMAIL} with this many tasks. Default: 0.",
        )
        parser.add_argument(
            "--scale-users",
            type=_distinct_sizes,
            default=[],
            metavar="N,N,...",
            help=(
                f"Also create scale-N@{SEED_EMAIL_DOMAIN} with exactly N tasks, for "
                "each N in the comma-separated list. Default: none."
            ),
        )
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"The password of every seed user. Default: {DEFAULT_PASSWORD}.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=42,
            help="Random seed; the same seed gives the same data. Default: 42.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete existing seed users and their tasks first.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            default=20_000,
            help="Tasks per COPY or bulk_create batch. Default: 20000.",
        )
        parser.add_argument(
            "--index-workers",
            type=_positive_int,
            default=2,
            help=(
                "Connections that build the task indexes after a big load, side by "
                "side (about one database core each). Default: 2."
            ),
        )
        parser.add_argument(
            "--quiet", action="store_true", help="No progress bar on stderr."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seeded = seed(
            users=options["users"],
            tasks_per_user=options["tasks_per_user"],
            heavy_tasks=options["heavy_tasks"],
            scale_users=options["scale_users"],
            password=options["password"],
            random_seed=options["seed"],
            reset=options["reset"],
            batch_size=options["batch_size"],
            index_workers=options["index_workers"],
            log=self.stdout.write,
            progress_out=None if options["quiet"] else self.stderr,
        )
        if seeded is None:
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {seeded.users:,} users and {seeded.tasks:,} tasks in "
                f"{seeded.seconds:.1f} s "
                f"({seeded.tasks / max(seeded.seconds, 1e-9):,.0f} rows/s). "
                f"Password: {options['password']}"
            )
        )
