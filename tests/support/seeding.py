"""Running ``manage.py seed`` in tests, and reading back what it wrote."""

from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command

from todos.models import Label, Task, TaskLabel, TaskList
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


def shelves_snapshot() -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Each seed user's lists, labels, and tasks' places in them, by name (no ids)."""
    owners = seed_users()
    result: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for email in owners.order_by("email").values_list("email", flat=True):
        result[email] = {"lists": [], "labels": [], "tasks": []}
    lists = TaskList.objects.filter(owner__in=owners).order_by(
        "owner__email", "position"
    )
    for email, *row in lists.values_list("owner__email", "name", "color", "position"):
        result[email]["lists"].append(tuple(row))
    labels = Label.objects.filter(owner__in=owners).order_by("owner__email", "name")
    for email, *row in labels.values_list("owner__email", "name", "color"):
        result[email]["labels"].append(tuple(row))
    names: dict[Any, list[str]] = {}
    links = TaskLabel.objects.filter(owner__in=owners)
    for task_id, name in links.values_list("task_id", "label__name"):
        names.setdefault(task_id, []).append(name)
    tasks = seed_tasks().order_by("owner__email", "created_at", "id")
    for task_id, email, title, list_name in tasks.values_list(
        "id", "owner__email", "title", "list__name"
    ):
        result[email]["tasks"].append(
            (title, list_name, tuple(sorted(names.get(task_id, []))))
        )
    return result
