"""What the HTTP layer keeps between requests: answers to replay for Idempotency-Key."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The answer to a request sent with an ``Idempotency-Key`` (api/idempotency.py).

    Written in the same transaction as the request's own changes, so a stored answer
    always belongs to changes that committed, and the changes never commit without it.
    """

    scope = models.CharField(
        max_length=100, help_text="Whose key: 'user:<id>', or 'client:<ip>'."
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="Keyed digest of the method, path and JSON body."
    )
    status = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="api_idempotency_scope_key_uniq"
            ),
        ]
        indexes = [
            # The purge: records past their lifetime.
            models.Index(fields=["created_at"], name="api_idempotency_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
