"""Running ``manage.py seed`` in tests, and reading back what it wrote."""

from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command

from todos.models import Task
from todos.seeding import seed_users


def run_seed(*args: str, **options: Any) -> tuple[str, str]:
    """Run the command; return what it wrote to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    options.setdefault("quiet", True)
    call_command("seed", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def seed_tasks() -> Any:
    """Every task of every seed user."""
    return Task.objects.filter(owner__in=seed_users())


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Each seed user's tasks in creation order, without ids and timestamps."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    rows = seed_tasks().order_by("owner__email", "created_at", "id")
    for email, *task in rows.values_list(
        "owner__email", "title", "description", "status", "priority"
    ):
        snapshot.setdefault(email, []).append(tuple(task))
    return snapshot
