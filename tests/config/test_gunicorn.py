"""config/gunicorn.conf.py: limits that the API's own links must fit in."""

from __future__ import annotations

import runpy
from pathlib import Path
from urllib.parse import quote

from todos.filters import SEARCH_MAX_LENGTH
from todos.pagination import CURSOR_MAX_LENGTH

CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"


def test_the_longest_next_link_fits_in_a_request_line():
    limit = runpy.run_path(str(CONF))["limit_request_line"]
    # Four UTF-8 bytes per character, each percent-encoded.
    search = quote("\U0001f600" * SEARCH_MAX_LENGTH)
    filters = "&".join(
        [
            "status=pending,in_progress,completed",
            "priority=low,normal,high,urgent",
            *(
                f"{name}=2026-12-03T06:00:00.123456%2B05:30"
                for name in (
                    "due_before",
                    "due_after",
                    "created_after",
                    "created_before",
                    "updated_after",
                )
            ),
            "overdue=false&has_due=false&ordering=-created_at&page_size=200",
        ]
    )
    path = f"/api/v1/tasks/?search={search}&{filters}&cursor={'x' * CURSOR_MAX_LENGTH}"
    line = f"GET {path} HTTP/1.1"
    assert len(line) <= limit


def test_one_sync_worker_per_core_unless_the_environment_says_otherwise(monkeypatch):
    # docs/performance.md: one per core measured ahead of 2 per core + 1 here.
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 6)
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (6, 1, "sync")

    monkeypatch.setenv("WEB_CONCURRENCY", "13")
    assert runpy.run_path(str(CONF))["workers"] == 13
