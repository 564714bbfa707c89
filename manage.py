#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Schema commands (``migrate`` and friends) use ``DIRECT_DATABASE_URL`` when it is set:
on Neon that is the direct endpoint, not the transaction-mode pooler that
``DATABASE_URL`` names for the application.
"""

import os
import sys

SCHEMA_COMMANDS = {"migrate", "makemigrations", "sqlmigrate", "createcachetable"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    if len(sys.argv) > 1 and sys.argv[1] in SCHEMA_COMMANDS:
        os.environ["DATABASE_SCHEMA_COMMAND"] = "true"
        direct = os.environ.get("DIRECT_DATABASE_URL")
        if direct:
            os.environ["DATABASE_URL"] = direct
            os.environ.pop("DATABASE_POOLER", None)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
