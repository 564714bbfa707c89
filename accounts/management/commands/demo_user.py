"""Create the local demo login (API and admin) and print where to go next.

Local development only: the account is a staff superuser with a password printed on
the terminal, so the command refuses to run with production settings or with
``DATABASE_URL`` set (any database but the embedded SQLite file of ``make run``).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from accounts.models import User

DEMO_EMAIL = "demo@example.com"
PRODUCTION_SETTINGS = "config.settings.production"


def refusal() -> str | None:
    """Why the demo login may not be created here, or ``None``."""
    if settings.SETTINGS_MODULE == PRODUCTION_SETTINGS:
        return f"the settings are {PRODUCTION_SETTINGS}"
    if os.environ.get("DATABASE_URL"):
        return "DATABASE_URL is set (the demo login lives on the embedded SQLite only)"
    return None


class Command(BaseCommand):
    help = (
        f"Create {DEMO_EMAIL}, a staff account with a random password, if it does not "
        "exist; print its login and the local URLs to visit. --reset gives it a new "
        "password. Refused with production settings or DATABASE_URL set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Set a new password if it exists."
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="Where the development server listens, for the printed links.",
        )

    def handle(
        self,
        *args: Any,
        reset: bool = False,
        url: str = "http://127.0.0.1:8000",
        **options: Any,
    ) -> None:
        reason = refusal()
        if reason is not None:
            raise CommandError(
                f"Refusing to create the demo login: {reason}. It is for local "
                "development (`make run`) only; use `manage.py createsuperuser` "
                "elsewhere."
            )
        user = User.objects.with_email(DEMO_EMAIL).first()
        password: str | None = None
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(DEMO_EMAIL, password, name="Demo User")
        else:
            if reset:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
            # An account made before the demo login became staff is promoted.
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_staff", "is_superuser"])
        self._print_next_steps(url.rstrip("/"), password)

    def _print_next_steps(self, base: str, password: str | None) -> None:
        if password is None:
            login = (
                f"{DEMO_EMAIL} (password as printed when it was created; "
                "`make demo-password` sets and prints a new one)"
            )
        else:
            login = f"{DEMO_EMAIL}  password: {password}"
        self.stdout.write(self.style.SUCCESS(f"Demo login (API and admin): {login}"))
        for label, name in (
            ("API root", "api-root"),
            ("API docs (Swagger UI)", "docs"),
            ("API docs (Redoc)", "redoc"),
            ("Admin", "admin:index"),
        ):
            self.stdout.write(f"  {label + ':':<24}{base}{reverse(name)}")
        self.stdout.write(
            f"  {'Get a token:':<24}POST {base}{reverse('accounts:token')} "
            '{"email": ..., "password": ...}, then "Authorize" in the docs'
        )
