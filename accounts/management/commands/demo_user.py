"""Create the demo account for local use and print how to sign in."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User

DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = (
        f"Create {DEMO_EMAIL} with a random password if it does not exist, and print "
        "its credentials. --reset gives an existing demo account a new password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Set a new password if it exists."
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        user = User.objects.with_email(DEMO_EMAIL).first()
        if user is not None and not reset:
            self.stdout.write(
                f"Demo account: {DEMO_EMAIL} (password as printed when it was created; "
                "`make demo-password` sets and prints a new one)"
            )
            return
        password = secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_user(DEMO_EMAIL, password, name="Demo User")
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(
            self.style.SUCCESS(f"Demo account: {DEMO_EMAIL}  password: {password}")
        )
