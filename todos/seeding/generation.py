"""Plausible demo tasks, reproducible from a seed, as rows of plain values.

A row is a tuple of strings and whole Unix seconds rather than a ``Task``: the COPY
path turns it into text directly (``todos.seeding.loading``), which at a million rows
is most of the difference between seconds and minutes.
"""

from __future__ import annotations

import datetime
import random
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import overload

from todos.ids import uuid7, uuid7_text
from todos.models import (
    POSITION_GAP,
    TITLE_MAX_LENGTH,
    Color,
    TaskPriority,
    TaskStatus,
)

DAY = 86_400
YEAR = 365 * DAY
DUE_EARLIEST = -60 * DAY
DUE_LATEST = 120 * DAY
DUE_SHARE = 0.6
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
# loading.CopyFormatter.line().
Row = tuple[str, str, str, str, str, int, int | None, int | None, int, int]
# A row with its list's id last (None: the inbox); a plain Row is an inbox task.
ListedRow = tuple[
    str, str, str, str, str, int, int | None, int | None, int, int, str | None
]
# One label on one task: owner id, task id, label id (canonical UUID text).
Link = tuple[str, str, str]

# Each user gets LISTS_MIN..LISTS_MAX lists and LABELS_MIN..LABELS_MAX labels, named
# from these (no two alike), coloured from the palette.
LISTS_MIN, LISTS_MAX = 3, 5
LABELS_MIN, LABELS_MAX = 4, 6
LIST_NAMES = (
    "Work", "Home", "Errands", "Personal", "Shopping", "Side project", "Family",
    "Health", "Finance", "Travel",
)  # fmt: skip
LABEL_NAMES = (
    "urgent", "waiting", "quick win", "phone", "computer", "outside", "someday",
    "reading", "meeting", "low energy", "email", "weekend",
)  # fmt: skip
# The share of tasks in a list (the rest are in the inbox), and of tasks with at
# least one label; a labelled task has one label, sometimes two, rarely three.
LIST_SHARE = 0.7
LABEL_SHARE = 0.3
SECOND_LABEL_SHARE = 0.3
THIRD_LABEL_SHARE = 0.05
PALETTE = tuple(Color.values)


def utc_datetime(seconds: int) -> datetime.datetime:
    """A row's Unix seconds as an aware UTC ``datetime``."""
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


@dataclass(frozen=True)
class Named:
    """A list or a label to create: its id, name, colour (None: none) and place."""

    id: str
    name: str
    color: str | None
    position: int


@dataclass
class Shelf:
    """One user's lists and labels, and where their tasks go.

    ``links`` collects the labels put on tasks as :meth:`TaskGenerator.tasks` yields
    them, to be written after the tasks.
    """

    owner_id: str
    rng: random.Random
    lists: list[Named]
    labels: list[Named]
    links: list[Link] = field(default_factory=list)


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

    def shelf(self, owner_id: uuid.UUID, rng: random.Random) -> Shelf:
        """A user's lists and labels, drawn from ``rng`` (names, colours, order).

        ``rng`` also places the user's tasks (:meth:`tasks`): give it its own
        generator so that the tasks themselves stay what the seed made them before.
        The ids are fresh UUIDv7s.
        """
        lists = [
            Named(str(uuid7()), name, color, (n + 1) * POSITION_GAP)
            for n, (name, color) in enumerate(
                zip(
                    rng.sample(LIST_NAMES, rng.randint(LISTS_MIN, LISTS_MAX)),
                    rng.sample(PALETTE, LISTS_MAX),
                    strict=False,
                )
            )
        ]
        labels = [
            # A few labels go without a colour, as people leave them.
            Named(str(uuid7()), name, None if rng.random() < 0.2 else color, 0)
            for name, color in zip(
                rng.sample(LABEL_NAMES, rng.randint(LABELS_MIN, LABELS_MAX)),
                rng.sample(PALETTE, LABELS_MAX),
                strict=False,
            )
        ]
        return Shelf(str(owner_id), rng, lists, labels)

    @overload
    def tasks(
        self, owner_id: uuid.UUID, count: int, rng: random.Random
    ) -> Iterator[Row]: ...

    @overload
    def tasks(
        self, owner_id: uuid.UUID, count: int, rng: random.Random, shelf: Shelf
    ) -> Iterator[ListedRow]: ...

    def tasks(
        self,
        owner_id: uuid.UUID,
        count: int,
        rng: random.Random,
        shelf: Shelf | None = None,
    ) -> Iterator[Row | ListedRow]:
        """``count`` tasks for ``owner_id``, oldest first.

        With a ``shelf`` (the owner's), each row ends with its list's id (None: the
        inbox) and the labels put on it are added to ``shelf.links``.

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
            row: Row = (
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
            if shelf is None:
                yield row
            else:
                yield (*row, _place(row[0], shelf))

    def _title(self, rng: random.Random) -> str:
        if rng.random() < 0.04:
            size = 12 + int(rng.random() * 40)
        else:
            size = 1 + int(rng.random() * 4)
        title = f"{rng.choice(VERBS)} {' '.join(rng.choices(NOUNS, k=size))}"
        if len(title) > TITLE_MAX_LENGTH:
            title = title[: TITLE_MAX_LENGTH + 1].rsplit(" ", 1)[0]
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


def _place(task_id: str, shelf: Shelf) -> str | None:
    """Label the task (into ``shelf.links``) and return its list's id, or None."""
    rand = shelf.rng.random
    if shelf.labels and rand() < LABEL_SHARE:
        count = 1 + (rand() < SECOND_LABEL_SHARE) + (rand() < THIRD_LABEL_SHARE)
        for label in shelf.rng.sample(shelf.labels, min(count, len(shelf.labels))):
            shelf.links.append((shelf.owner_id, task_id, label.id))
    if not shelf.lists or rand() >= LIST_SHARE:
        return None
    # The first lists are the busy ones (Work fills up faster than Travel).
    return shelf.lists[int(rand() ** 2 * len(shelf.lists))].id
