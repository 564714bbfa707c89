"""config/gunicorn.conf.py: limits that the API's own links must fit in, workers, and
what the master does before forking them."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

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


def test_workers_are_recycled_rarely_unless_the_environment_says_otherwise(
    monkeypatch,
):
    # docs/performance.md: memory flat over 245,000 requests; recycling every 10,000
    # cost the list about 3 % of its requests per second.
    for name in ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(CONF))
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (100_000, 10_000)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "0")
    assert runpy.run_path(str(CONF))["max_requests"] == 0


@pytest.mark.parametrize("preload", ["true", "false"])
def test_the_master_imports_the_urlconf_before_forking_when_it_preloads(preload):
    """Each worker then starts with every view imported, not on its first request."""
    code = (
        "import runpy, sys, django; django.setup(); "
        f"conf = runpy.run_path({str(CONF)!r}); "
        "before = 'todos.views' in sys.modules; "
        "conf['when_ready'](None); "
        "print(before, 'config.urls' in sys.modules, 'todos.views' in sys.modules)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "GUNICORN_PRELOAD": preload,
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=CONF.parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = "True" if preload == "true" else "False"
    assert done.stdout.split() == ["False", imported, imported]
