"""Purge what offline sync keeps for a while: old tombstones and idempotency keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from api.idempotency import idempotency_records_purge, lifetime
from todos.changes import retention, tombstones_purge


class Command(BaseCommand):
    help = (
        "Delete tombstones older than TODOS_TOMBSTONE_RETENTION_DAYS and "
        "Idempotency-Key records older than API_IDEMPOTENCY_KEY_TTL_HOURS. Run it "
        "daily (cron or a scheduled job)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        tombstones = tombstones_purge(before=now - retention())
        keys = idempotency_records_purge(before=now - lifetime())
        self.stdout.write(
            f"Purged {tombstones} tombstone(s) and {keys} idempotency record(s)."
        )
