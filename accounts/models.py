"""The custom user: an email login, a UUID key and Argon2-hashed passwords."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models.functions import Length, Lower, Trim
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from accounts.managers import UserManager

# What a sign-up or profile change hears when the email is in use in any letter
# case: from the unique constraint, the serializers and the views alike.
EMAIL_TAKEN_MESSAGE = "A user with this email address already exists."
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 150


class User(AbstractBaseUser, PermissionsMixin):
    """A person who owns tasks; signs in with an email unique in any letter case."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=EMAIL_MAX_LENGTH)
    name = models.CharField("display name", max_length=NAME_MAX_LENGTH, blank=True)
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Unselect this instead of deleting the account; "
        "an inactive user cannot sign in or use tokens already issued.",
    )
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        help_text="Designates whether the user can log into the admin site.",
    )
    date_joined = models.DateTimeField("date joined", default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_uniq",
                violation_error_message=EMAIL_TAKEN_MESSAGE,
            ),
            models.CheckConstraint(
                condition=GreaterThan(Length(Trim("email")), 0),
                name="accounts_user_email_not_blank",
                violation_error_message="The email address may not be blank.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)
