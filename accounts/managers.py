"""The manager of the custom user model, in the shape of Django's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import BaseUserManager
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower

if TYPE_CHECKING:
    from accounts.models import User


class UserManager(BaseUserManager["User"]):
    """``create_user`` / ``create_superuser`` with the email as the login."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The email as stored: trimmed, with Django's lower-cased domain.

        The one normalisation of every write path: ``create_user``, the model's
        ``clean()`` (the admin) and profile changes.
        """
        return super().normalize_email((email or "").strip())

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email or not email.strip():
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if extra["is_staff"] is not True:
            raise ValueError("A superuser must have is_staff=True.")
        if extra["is_superuser"] is not True:
            raise ValueError("A superuser must have is_superuser=True.")
        return self._create_user(email, password, **extra)

    def with_email(self, email: str) -> QuerySet[User]:
        """Users whose email equals ``email`` in any letter case.

        Compares ``lower(email)`` so that the unique expression index serves it.
        """
        return self.alias(email_ci=Lower("email")).filter(email_ci=Lower(Value(email)))

    def get_by_natural_key(self, username: str | None) -> User:
        """The login: an email matched case-insensitively."""
        return self.with_email(username or "").get()
