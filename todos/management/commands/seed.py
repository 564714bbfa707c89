"""Fill the database with realistic, reproducible demo users and tasks.

``manage.py seed`` creates ``--users`` accounts (``seed-user-00001@seed.example.com``
and so on), each with ``--tasks-per-user`` tasks, plus an optional
``heavy@seed.example.com`` with ``--heavy-tasks`` tasks for trying the API on one
large list, and optional ``scale-<N>@seed.example.com`` users with exactly N tasks
each (``--scale-users 1000,10000``) for comparing list costs across sizes. All of them
share the password given by ``--password``. The same ``--seed`` gives every user
position the same titles, descriptions, statuses and priorities; timestamps are
relative to the time of the run, ids are fresh UUIDv7s.

On PostgreSQL the tasks are streamed with ``COPY``. For a load bigger than the table
the indexes and the owner foreign key are dropped first (``todos.bulk``): the foreign
key is added back before the commit, the indexes are built after it on two
connections side by side (a million tasks in under a minute). Elsewhere the tasks go
through ``bulk_create``. The users and tasks are written in one transaction; a run
interrupted while it builds the indexes leaves the data in place, and the next run
builds the missing indexes before anything else.
"""

from __future__ import annotations

import argparse
import datetime
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser, OutputWrapper
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from accounts.models import User
from todos import bulk
from todos.ids import uuid7_text
from todos.models import Task, TaskPriority, TaskStatus

SEED_EMAIL_DOMAIN = "seed.example.com"
HEAVY_USER_EMAIL = f"heavy@{SEED_EMAIL_DOMAIN}"
DEFAULT_PASSWORD = "seed-password-123"  # noqa: S105 - a documented demo password

DAY = 86_400
YEAR = 365 * DAY
DUE_EARLIEST = -60 * DAY
DUE_LATEST = 120 * DAY
DUE_SHARE = 0.6
TITLE_MAX = 255
DESCRIPTION_MAX = 2_000

PENDING = TaskStatus.PENDING.value
IN_PROGRESS = TaskStatus.IN_PROGRESS.value
COMPLETED = TaskStatus.COMPLETED.value

# Weighted by repetition so that a draw is one index into a tuple: 25 % low, 45 %
# normal, 20 % high, 10 % urgent.
PRIORITY_WHEEL: tuple[int, ...] = (
    (TaskPriority.LOW.value,) * 5
    + (TaskPriority.NORMAL.value,) * 9
    + (TaskPriority.HIGH.value,) * 4
    + (TaskPriority.URGENT.value,) * 2
)

VERBS = (
    "Call", "Email", "Buy", "Book", "Fix", "Review", "Write", "Plan", "Clean",
    "Pay", "Renew", "Cancel", "Schedule", "Prepare", "Send", "Update", "Check",
    "Order", "Return", "Pick up", "Finish", "Draft", "Organise", "Read", "Sort out",
    "Research", "Submit", "Ask about", "Follow up on", "Back up",
)  # fmt: skip
NOUNS = (
    "the dentist", "groceries", "the car", "insurance", "the report", "taxes",
    "the landlord", "flights", "the garden", "the kitchen", "invoices", "the budget",
    "birthday present", "passport", "the bike", "quarterly review", "slides",
    "the roof", "library books", "the plumber", "newsletter", "the contract",
    "team lunch", "the printer", "subscriptions", "photos", "the laptop",
    "meeting notes", "the gym", "holiday plans", "the bank", "receipts",
    "the website", "documentation", "the boiler", "school forms", "the vet",
    "conference talk", "the garage", "phone bill", "with Anna", "with the team",
    "for Monday", "before Friday", "next week", "this weekend", "again", "today",
)  # fmt: skip
WORDS = (
    "the", "a", "and", "to", "of", "for", "with", "on", "before", "after", "about",
    "we", "I", "they", "need", "should", "must", "maybe", "check", "ask", "send",
    "call", "remember", "bring", "update", "confirm", "order", "pay", "review",
    "notes", "list", "meeting", "budget", "draft", "email", "invoice", "receipt",
    "appointment", "deadline", "form", "account", "password", "address", "number",
    "price", "quote", "delivery", "schedule", "plan", "report", "summary", "copy",
    "version", "details", "question", "answer", "problem", "idea", "option", "team",
    "client", "landlord", "doctor", "school", "office", "kitchen", "garden", "car",
    "flight", "hotel", "ticket", "weekend", "morning", "evening", "tomorrow",
    "Monday", "Friday", "month", "year", "soon", "later", "first", "again", "still",
    "already", "new", "old", "cheaper", "better", "urgent", "important", "small",
    "last", "next", "both", "all", "some", "more", "less", "if", "when", "because",
    "so", "but", "not", "only", "also", "probably", "definitely", "online", "there",
)  # fmt: skip

# id and owner id (canonical UUID text), title, description, status, priority, and the
# due, completed, created and updated times as Unix seconds: the column order of
# CopyFormatter.line().
Row = tuple[str, str, str, str, str, int, int | None, int | None, int, int]

# From this many new tasks on (and when they outnumber the rows already there), the
# indexes are dropped for the COPY and built afterwards.
BULK_INDEX_THRESHOLD = 100_000

COPY_SQL = (
    "COPY todos_task (id, owner_id, title, description, status, priority, due_at, "
    "completed_at, created_at, updated_at, version) FROM STDIN"
)
DELETE_SEED_TASKS_SQL = (
    "DELETE FROM todos_task WHERE owner_id IN "
    "(SELECT id FROM accounts_user WHERE lower(email) LIKE %s)"
)


def seed_user_email(position: int) -> str:
    """The email of the seeded user at ``position`` (1-based)."""
    return f"seed-user-{position:05d}@{SEED_EMAIL_DOMAIN}"


def scale_user_email(size: int) -> str:
    """The email of the ``--scale-users`` user with ``size`` tasks."""
    return f"scale-{size}@{SEED_EMAIL_DOMAIN}"


def seed_users() -> QuerySet[User]:
    """Every user a seed run made: the email ends in ``@seed.example.com``."""
    return User.objects.filter(email__iendswith=f"@{SEED_EMAIL_DOMAIN}")


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


class TaskGenerator:
    """Plausible tasks for one owner, the same for the same seed and position.

    Works in whole Unix seconds relative to ``now`` so that the COPY path can turn
    them into text without building ``datetime`` objects.
    """

    def __init__(self, *, seed: int, now: int) -> None:
        self.seed = seed
        self.now = now
        self._corpus = self._build_corpus(random.Random(f"{seed}:corpus"))  # noqa: S311
        self._salt = secrets.randbits(74)

    def rng_for(self, position: int | str) -> random.Random:
        """A generator for one user position, independent of how many users exist."""
        # Reproducible demo data, not secrets: a seeded PRNG is the point.
        return random.Random(f"{self.seed}:{position}")  # noqa: S311

    def tasks(
        self, owner_id: uuid.UUID, count: int, rng: random.Random
    ) -> Iterator[Row]:
        """``count`` tasks for ``owner_id``, oldest first.

        Each id is the UUIDv7 of the task's creation time: ids sort as the tasks
        were created, as they would had the API made them one after another. Its
        random bits are ``rng``'s, mixed with this generator's salt so that a reseed
        never hands out an id again.
        """
        now = self.now
        rand = rng.random
        bits = rng.getrandbits
        salt = self._salt
        owner = str(owner_id)
        ages = sorted((int(rand() * YEAR) + 1 for _ in range(count)), reverse=True)
        for age in ages:
            created = now - age
            completed: int | None = None
            # Old tasks are mostly done, new ones mostly open.
            done_share = 0.1 + 0.75 * age / YEAR
            draw = rand()
            if draw < done_share:
                status = COMPLETED
                completed = created + int(age * rand() ** 3)
                updated = completed
            else:
                status = IN_PROGRESS if draw < done_share + 0.12 else PENDING
                touched = status == IN_PROGRESS or rand() < 0.4
                updated = created + int(age * rand() ** 2) if touched else created
            due: int | None = None
            if rand() < DUE_SHARE:
                due = now + DUE_EARLIEST + int(rand() * (DUE_LATEST - DUE_EARLIEST))
                due -= due % 900
            yield (
                uuid7_text(created * 1000 + int(rand() * 1000), bits(74) ^ salt),
                owner,
                self._title(rng),
                self._description(rng),
                status,
                PRIORITY_WHEEL[int(rand() * len(PRIORITY_WHEEL))],
                due,
                completed,
                created,
                updated,
            )

    def _title(self, rng: random.Random) -> str:
        if rng.random() < 0.04:
            size = 12 + int(rng.random() * 40)
        else:
            size = 1 + int(rng.random() * 4)
        title = f"{rng.choice(VERBS)} {' '.join(rng.choices(NOUNS, k=size))}"
        if len(title) > TITLE_MAX:
            title = title[: TITLE_MAX + 1].rsplit(" ", 1)[0]
        return title

    def _description(self, rng: random.Random) -> str:
        # Most to-dos carry no notes; of those that do, most are a sentence or two,
        # some a paragraph, a few a long paste (about 110 characters on average).
        draw = rng.random()
        if draw < 0.55:
            return ""
        if draw < 0.88:
            length = 20 + int(rng.random() * 180)
        elif draw < 0.98:
            length = 200 + int(rng.random() * 600)
        else:
            length = 800 + int(rng.random() * (DESCRIPTION_MAX - 800))
        corpus = self._corpus
        start = corpus.index(". ", int(rng.random() * (len(corpus) // 2))) + 2
        end = corpus.rfind(".", start, start + length) + 1
        if end <= start:
            end = corpus.rfind(" ", start, start + length)
        return corpus[start:end]

    @staticmethod
    def _build_corpus(rng: random.Random) -> str:
        paragraphs = []
        for _ in range(600):
            sentences = []
            for _ in range(rng.randint(2, 6)):
                words = rng.choices(WORDS, k=rng.randint(4, 18))
                sentence = " ".join(words)
                sentences.append(f"{sentence[0].upper()}{sentence[1:]}.")
            paragraphs.append(" ".join(sentences))
        return "\n\n".join(paragraphs)


class CopyFormatter:
    """Rows as lines of PostgreSQL's COPY text format, in UTC.

    Formatting the timestamps from precomputed day and time-of-day strings is several
    times faster than ``datetime.isoformat()``, which matters at a million rows.
    """

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._times = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)
        ]
        self._epoch = datetime.date(1970, 1, 1).toordinal()

    def timestamp(self, seconds: int | None) -> str:
        if seconds is None:
            return "\\N"
        day, second = divmod(seconds, DAY)
        date = self._days.get(day)
        if date is None:
            date = datetime.date.fromordinal(self._epoch + day).isoformat()
            self._days[day] = date
        return f"{date} {self._times[second]}+00"

    def line(self, row: Row) -> str:
        id_, owner, title, text, status, priority, due, done, created, updated = row
        return (
            f"{id_}\t{owner}\t{_escape(title)}\t{_escape(text)}\t{status}\t{priority}\t"
            f"{self.timestamp(due)}\t{self.timestamp(done)}\t"
            f"{self.timestamp(created)}\t{self.timestamp(updated)}\t1\n"
        )


def _escape(value: str) -> str:
    """Escape the characters COPY's text format gives a meaning to."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    return value


def _task(row: Row) -> Task:
    id_, owner, title, text, status, priority, due, done, created, updated = row
    return Task(
        id=uuid.UUID(id_),
        owner_id=uuid.UUID(owner),
        title=title,
        description=text,
        status=status,
        priority=priority,
        due_at=None if due is None else _utc(due),
        completed_at=None if done is None else _utc(done),
        created_at=_utc(created),
        updated_at=_utc(updated),
        version=1,
    )


def _utc(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


class Progress:
    """Percentage and rate of the rows written so far, on ``out`` (``None``: silent).

    On a terminal the line is redrawn in place; otherwise, as in CI logs, a line is
    written each time another tenth of ``total`` is done.
    """

    def __init__(self, out: OutputWrapper | None, total: int) -> None:
        self.out = out
        self.total = total
        self.tty = out is not None and out.isatty()
        self.started = time.perf_counter()
        self._last_tenth = 0
        self._width = 0

    def update(self, done: int) -> None:
        if self.out is None or self.total == 0:
            return
        tenth = done * 10 // self.total
        if not self.tty and tenth == self._last_tenth:
            return
        self._last_tenth = tenth
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"tasks {done * 100 // self.total:3d}%  {done:,}/{self.total:,}"
            f"  {done / elapsed:,.0f} rows/s"
        )
        if self.tty:
            # Padded so that a shorter line fully covers the one before it.
            self._width = max(self._width, len(text))
            self.out.write(f"\r{text:<{self._width}}", style_func=_plain, ending="")
        else:
            self.out.write(text, style_func=_plain)
        self.out.flush()

    def finish(self) -> None:
        """End the redrawn line so that later output starts on a line of its own."""
        if self.out is not None and self.tty and self.total:
            self.out.write("", style_func=_plain)


def _plain(text: str) -> str:
    # BaseCommand styles its stderr as errors (red on a terminal); progress is not.
    return text


def copy_tasks(rows: Iterator[Row], *, batch_size: int, progress: Progress) -> None:
    """Insert ``rows`` with PostgreSQL's COPY on the default connection."""
    formatter = CopyFormatter()
    line = formatter.line
    done = 0
    # One COPY fed batch by batch, sent by psycopg's writer thread: the server
    # inserts a batch while Python formats the next, where a COPY per batch (or a
    # blocking write) would make each wait for the other.
    # (psycopg's own cursor: Django's debug wrapper takes no writer.)
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        with cursor.copy(COPY_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
            while batch := [line(row) for row in islice(rows, batch_size)]:
                copy.write("".join(batch))
                done += len(batch)
                progress.update(done)


def bulk_create_tasks(
    rows: Iterator[Row], *, batch_size: int, progress: Progress
) -> None:
    """Insert ``rows`` through the ORM: the path for databases without COPY."""
    done = 0
    while batch := [_task(row) for row in islice(rows, batch_size)]:
        Task.objects.bulk_create(batch)
        done += len(batch)
        progress.update(done)


class Command(BaseCommand):
    help = (
        "Create seed users (seed-user-NNNNN@seed.example.com) with realistic tasks for "
        "development and load tests. Does nothing if seed users exist; --reset "
        "replaces them and their tasks. Other users are never touched."
    )
    # The index builders report from their own threads.
    _report_lock = threading.Lock()

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
        users: int = options["users"]
        per_user: int = options["tasks_per_user"]
        heavy: int = options["heavy_tasks"]
        scale: list[int] = options["scale_users"]
        batch_size: int = options["batch_size"]
        workers: int = options["index_workers"]
        postgresql = connection.vendor == "postgresql"

        if postgresql and (missing := bulk.missing_indexes()):
            # Left by a run interrupted while it built them (after its data committed).
            self.stdout.write(f"Building {len(missing)} missing task indexes first.")
            bulk.build_indexes(missing, workers=workers, report=self._built)
        existing = seed_users().count()
        if existing and not options["reset"]:
            self.stdout.write(
                f"Seed data already exists ({existing} users @{SEED_EMAIL_DOMAIN}); "
                "nothing written. Run `manage.py seed --reset` to replace it."
            )
            return

        now = int(timezone.now().timestamp())
        generator = TaskGenerator(seed=options["seed"], now=now)
        password = make_password(options["password"])
        total = users * per_user + heavy + sum(scale)

        # The rows go in one transaction: a failed or interrupted load leaves the
        # previous data. A load bigger than the table goes in without the indexes,
        # which are built after the commit, side by side.
        rebuild: list[str] = []
        with transaction.atomic():
            if existing:
                reset_started = time.perf_counter()
                self._delete_seed_data()
                self.stdout.write(
                    f"Deleted {existing} seed users and their tasks in "
                    f"{time.perf_counter() - reset_started:.1f} s."
                )
            progress = Progress(None if options["quiet"] else self.stderr, total)
            started = progress.started
            owners = self._create_users(
                [per_user] * users, heavy, scale, password, generator, now
            )
            rows = self._rows(owners, generator)
            if not postgresql:
                bulk_create_tasks(rows, batch_size=batch_size, progress=progress)
            elif total >= max(BULK_INDEX_THRESHOLD, bulk.table_size_estimate()):
                with bulk.without_indexes() as rebuild:
                    copy_tasks(rows, batch_size=batch_size, progress=progress)
            else:
                copy_tasks(rows, batch_size=batch_size, progress=progress)
        progress.finish()
        if rebuild:
            loaded = time.perf_counter() - started
            self.stdout.write(
                f"Loaded {total:,} tasks in {loaded:.1f} s; building "
                f"{len(rebuild)} indexes on {workers} connections."
            )
            bulk.build_indexes(rebuild, workers=workers, report=self._built)
        elapsed = time.perf_counter() - started

        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(owners):,} users and {total:,} tasks in {elapsed:.1f} s "
                f"({total / max(elapsed, 1e-9):,.0f} rows/s). "
                f"Password: {options['password']}"
            )
        )

    def _built(self, name: str, seconds: float) -> None:
        with self._report_lock:
            self.stdout.write(f"  built {name} in {seconds:.1f} s")

    def _delete_seed_data(self) -> None:
        """Tasks first in one statement: the ORM would fetch them before deleting."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(DELETE_SEED_TASKS_SQL, [f"%@{SEED_EMAIL_DOMAIN}"])
        else:
            Task.objects.filter(owner__in=seed_users()).delete()
        seed_users().delete()

    def _create_users(
        self,
        counts: list[int],
        heavy: int,
        scale: list[int],
        password: str,
        generator: TaskGenerator,
        now: int,
    ) -> list[tuple[User, random.Random, int]]:
        """The users, each with its task generator and how many tasks it gets."""
        joined = _utc(now - YEAR - 30 * DAY)
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

    @staticmethod
    def _rows(
        owners: list[tuple[User, random.Random, int]], generator: TaskGenerator
    ) -> Iterator[Row]:
        for user, rng, count in owners:
            yield from generator.tasks(user.pk, count, rng)
