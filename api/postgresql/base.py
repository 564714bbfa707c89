"""Django's PostgreSQL backend, reading ``timestamptz`` with psycopg's C loader.

Django registers a Python subclass of psycopg's ``TimestamptzLoader`` so that it can
pin the values' time zone, and psycopg only swaps in its compiled loader for its own
classes: every ``timestamptz`` of every row is then parsed by a regular expression in
Python (psycopg issue 1273, Django ticket 36960), which was about a tenth of a task
list's CPU. With ``USE_TZ`` and ``TIME_ZONE = "UTC"`` the pin changes nothing:
Django sets the session's TimeZone to UTC and the compiled loader then returns the
same aware UTC datetimes. In any other configuration this backend is Django's own.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import adapt
from psycopg.types.datetime import TimestamptzLoader


class DatabaseWrapper(base.DatabaseWrapper):
    def _compiled_timestamptz(self) -> bool:
        return bool(settings.USE_TZ) and self.timezone is datetime.UTC

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._compiled_timestamptz():
            context = adapt.AdaptersMap(params["context"])
            # psycopg registers its compiled loader in place of this, its own class.
            context.register_loader("timestamptz", TimestamptzLoader)
            params["context"] = context
        return params

    def create_cursor(self, name: str | None = None) -> Any:
        if not self._compiled_timestamptz():
            return super().create_cursor(name)
        # As Django's create_cursor, less its comparison of the loader's pinned zone
        # (which the compiled loader does not have; the session's zone is UTC).
        if not name:
            return self.connection.cursor()
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            return base.ServerSideCursor(  # type: ignore[call-arg]
                self.connection,
                name=name,
                scrollable=False,
                withhold=self.connection.autocommit,
            )
        return self.connection.cursor(
            name, scrollable=False, withhold=self.connection.autocommit
        )
