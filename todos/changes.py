"""The changes feed: what changed in one user's tasks, lists and labels since a token.

Every write of a task, a list or a label stamps it with its owner's next change
sequence number (one counter for the three, so one order) and every delete leaves
a tombstone with one (``todos.models.claim_change_seq``). The
number is claimed under a row lock held until the write commits, so for one owner
the order of the numbers is the order of the commits, and once a number is
committed every smaller one is too. A page reads the owner's counter first, the
last committed number ``high``, and then the tasks, lists, labels and tombstones
with a number in ``(position, high]``: each is one range of an
``(owner, change_seq, id)`` index, and
nothing can still appear in that range later. The token of the next page holds the
position reached; a change made while a client pages moves the task to a larger
number, so the client meets it again further on. Applying every page in order
therefore reproduces the server's tasks, lists and labels exactly.

Tokens are signed for their user (another user's token is a 400 like a tampered
one) and expire with the tombstones: a token older than the retention, or from
before the last purge of the user's tombstones, is a 410 asking for a full resync.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Max, Q
from rest_framework import exceptions, status

from todos.expressions import RowCompare
from todos.models import (
    ChangeSequence,
    Label,
    NamedTombstone,
    Task,
    TaskList,
    TaskTombstone,
    TombstoneKind,
)

_SALT = "todos.changes.token"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class SyncTokenExpired(exceptions.APIException):
    """The token predates tombstones that were purged: resync from scratch."""

    status_code = status.HTTP_410_GONE
    default_detail = (
        "This sync token has expired: deletions it would need were purged. "
        "Discard the local copy and sync again without a token."
    )
    default_code = "sync_token_expired"


def invalid_token() -> exceptions.ValidationError:
    return exceptions.ValidationError(
        {"since": ["Invalid sync token."]}, code="invalid_token"
    )


@dataclass(frozen=True)
class Position:
    """Everything up to ``(seq, last_id)`` was sent; ``last_id`` None: all of seq."""

    seq: int
    last_id: uuid.UUID | None = None

    def after(self, id_column: str) -> Q:
        if self.last_id is None:
            return Q(change_seq__gt=self.seq)
        return Q(RowCompare(("change_seq", id_column), ">", (self.seq, self.last_id)))


START = Position(seq=-1)


@dataclass
class ChangesPage:
    """One page of the feed, oldest change first, and where the next one starts."""

    changed: list[Task]
    deleted: list[uuid.UUID]
    position: Position
    more: bool
    lists_changed: list[TaskList] = field(default_factory=list)
    lists_deleted: list[uuid.UUID] = field(default_factory=list)
    labels_changed: list[Label] = field(default_factory=list)
    labels_deleted: list[uuid.UUID] = field(default_factory=list)


def retention() -> datetime.timedelta:
    return datetime.timedelta(days=settings.TODOS_TOMBSTONE_RETENTION_DAYS)


def dump_token(*, owner: Any, position: Position) -> str:
    """A token for ``position`` that only ``owner`` can use, stamped with now."""
    payload = {
        "s": position.seq,
        "i": None if position.last_id is None else str(position.last_id),
    }
    return signing.dumps(payload, salt=f"{_SALT}:{owner.pk}", compress=True)


def load_token(*, owner: Any, token: str) -> Position:
    """The position a token holds.

    Raises ``ValidationError`` (400) for a token that is not one of ``owner``'s,
    and :class:`SyncTokenExpired` (410) for one older than the retention.
    """
    try:
        payload = signing.loads(token, salt=f"{_SALT}:{owner.pk}", max_age=retention())
    except signing.SignatureExpired:
        raise SyncTokenExpired from None
    except signing.BadSignature:
        raise invalid_token() from None
    try:
        seq, last_id = payload["s"], payload["i"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < -1:
            raise ValueError(seq)
        return Position(seq, None if last_id is None else uuid.UUID(last_id))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise invalid_token() from None


# The kinds of entry a page merges, and the page's list each one goes to.
_TASK, _TASK_GONE = "changed", "deleted"
_LIST, _LIST_GONE = "lists_changed", "lists_deleted"
_LABEL, _LABEL_GONE = "labels_changed", "labels_deleted"
_GONE = {TombstoneKind.LIST: _LIST_GONE, TombstoneKind.LABEL: _LABEL_GONE}


def changes_since(*, owner: Any, position: Position, limit: int) -> ChangesPage:
    """Up to ``limit`` changes of ``owner``'s tasks, lists, labels after ``position``.

    Six queries whatever the size of the owner's history: the counter (by primary
    key), then one index range each of tasks, task tombstones, lists, labels, and
    list and label tombstones. Raises :class:`SyncTokenExpired` when tombstones
    after ``position`` were purged.
    """
    counter = (
        ChangeSequence.objects.filter(owner=owner)
        .values_list("last_seq", "pruned_seq")
        .first()
    )
    high, pruned = counter or (0, 0)
    if position != START and (
        position.seq < pruned or (position.seq == pruned and position.last_id)
    ):
        raise SyncTokenExpired
    window = Q(owner=owner, change_seq__lte=high)
    entries: list[tuple[int, uuid.UUID, str, Any]] = []
    for task in (
        Task.objects.filter(window, position.after("id"))
        .with_label_ids()
        .order_by("change_seq", "id")[: limit + 1]
    ):
        entries.append((task.change_seq, task.id, _TASK, task))
    for seq, task_id in (
        TaskTombstone.objects.filter(window, position.after("task_id"))
        .order_by("change_seq", "task_id")
        .values_list("change_seq", "task_id")[: limit + 1]
    ):
        entries.append((seq, task_id, _TASK_GONE, task_id))
    for model, kind in ((TaskList, _LIST), (Label, _LABEL)):
        for row in model.objects.filter(window, position.after("id")).order_by(
            "change_seq", "id"
        )[: limit + 1]:
            entries.append((row.change_seq, row.id, kind, row))
    for seq, gone_id, gone_kind in (
        NamedTombstone.objects.filter(window, position.after("id"))
        .order_by("change_seq", "id")
        .values_list("change_seq", "id", "kind")[: limit + 1]
    ):
        entries.append((seq, gone_id, _GONE[TombstoneKind(gone_kind)], gone_id))
    # Merge the ranges by (seq, id); an id is in one of them only (a deleted row
    # stays deleted; ids are UUIDs), so the order is total.
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    more = len(entries) > limit
    entries = entries[:limit]
    if more:
        seq, last_id, _, _ = entries[-1]
        reached = Position(seq, last_id)
    else:
        # Everything up to ``high`` was read: nothing can still appear there.
        reached = Position(max(high, position.seq))
    page = ChangesPage(changed=[], deleted=[], position=reached, more=more)
    for _, _, kind, item in entries:
        getattr(page, kind).append(item)
    return page


def tombstones_purge(*, before: datetime.datetime) -> int:
    """Delete the tombstones of deletions before ``before``; return how many.

    Each owner's ``pruned_seq`` moves up to the largest number purged first (over
    the tombstones of tasks, lists and labels), in the same transaction, so a
    token from before it is refused (410) instead of silently missing a deletion.
    """
    purged = 0
    with transaction.atomic():
        tops: dict[Any, int] = {}
        for model in (TaskTombstone, NamedTombstone):
            for owner_id, top in (
                model.objects.filter(deleted_at__lt=before)
                .order_by()
                .values_list("owner_id")
                .annotate(top=Max("change_seq"))
            ):
                tops[owner_id] = max(top, tops.get(owner_id, top))
        for owner_id, top in sorted(tops.items(), key=lambda row: str(row[0])):
            ChangeSequence.objects.filter(owner_id=owner_id, pruned_seq__lt=top).update(
                pruned_seq=top
            )
            for model in (TaskTombstone, NamedTombstone):
                count, _ = model.objects.filter(
                    owner_id=owner_id, deleted_at__lt=before, change_seq__lte=top
                ).delete()
                purged += count
    return purged
