"""Purge what offline sync keeps for a while: tombstones past their retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from todos.changes import retention, tombstones_purge


class Command(BaseCommand):
    help = (
        "Delete tombstones older than TODOS_TOMBSTONE_RETENTION_DAYS. Run it daily "
        "(cron or a scheduled job); sync tokens older than the retention get 410."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        purged = tombstones_purge(before=timezone.now() - retention())
        self.stdout.write(f"Purged {purged} tombstone(s).")
