"""Who a Better Auth user is here: one identity row per (provider, subject)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan
from django.utils import timezone


class ExternalIdentity(models.Model):
    """A Better Auth user (``sub``) and the local user made for them.

    The subject is the only link: ``email`` and ``name`` are what the last token
    said, kept as profile data and never used to find or join a local account
    (Better Auth apps often do not verify emails).
    """

    provider = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="external_identities",
        # The (user, provider) unique constraint below starts with user_id.
        db_index=False,
    )
    email = models.CharField("email (as claimed)", max_length=254, blank=True)
    name = models.CharField("name (as claimed)", max_length=150, blank=True)
    email_verified = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "external identity"
        verbose_name_plural = "external identities"
        ordering = ["provider", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "subject"],
                name="betterauth_identity_provider_subject_uniq",
                violation_error_message="This identity is already linked.",
            ),
            models.UniqueConstraint(
                fields=["user", "provider"],
                name="betterauth_identity_user_provider_uniq",
                violation_error_message="This user already has an identity here.",
            ),
            models.CheckConstraint(
                condition=GreaterThan(Length("subject"), 0),
                name="betterauth_identity_subject_not_blank",
                violation_error_message="The subject may not be empty.",
            ),
            models.CheckConstraint(
                condition=GreaterThan(Length("provider"), 0),
                name="betterauth_identity_provider_not_blank",
                violation_error_message="The provider may not be empty.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject}"
