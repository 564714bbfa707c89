"""CPU per request in this process, scenario by scenario: ``python -m bench.profile``.

Requests go through Django's test client (the whole middleware stack, DRF, the
database and Redis as configured), timed with ``time.process_time``: CPU this
process spent, so other work on a shared machine barely moves it, unlike requests
per second. ``--profile NAME`` prints a cProfile of one scenario instead. Needs the
data ``make bench`` seeds (DATABASE_URL).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any


def _scenarios() -> dict[str, Callable[[], Any]]:
    from django.test import Client

    from accounts.models import User
    from api.conditional import etag_for
    from bench import seeding
    from todos.models import Task
    from todos.seeding import scale_user_email

    reader = User.objects.get(email=scale_user_email(seeding.LIST_USER_TASKS))
    writer, _ = User.objects.get_or_create(email="bench-profile@bench.example.com")
    client = Client(HTTP_HOST="127.0.0.1")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {seeding.token_for(reader)}"
    author = Client(HTTP_HOST="127.0.0.1")
    author.defaults["HTTP_AUTHORIZATION"] = f"Bearer {seeding.token_for(writer)}"
    deep = f"/api/v1/tasks/?cursor={seeding.deep_cursor(reader, 0.5)}"
    ids = list(Task.objects.filter(owner=reader).values_list("id", flat=True)[:100])
    patched = Task.objects.create(owner=writer, title="Profiled")
    state: dict[str, Any] = {"n": 0, "etag": etag_for(patched)}
    body = '{"title": "Sample", "priority": "high", "due_at": "2031-01-31T17:00:00Z"}'

    def detail() -> Any:
        state["n"] += 1
        return client.get(f"/api/v1/tasks/{ids[state['n'] % len(ids)]}/")

    def patch() -> Any:
        # A new title each time: the same one would be a PATCH that changes
        # nothing, which writes nothing.
        state["n"] += 1
        response = author.patch(
            f"/api/v1/tasks/{patched.pk}/",
            f'{{"title": "Profiled edit {state["n"]}"}}',
            content_type="application/json",
            HTTP_IF_MATCH=state["etag"],
        )
        state["etag"] = response["ETag"]
        return response

    return {
        "list": lambda: client.get("/api/v1/tasks/"),
        "list deep": lambda: client.get(deep),
        "filtered": lambda: client.get("/api/v1/tasks/?status=pending&ordering=due_at"),
        "detail": detail,
        "create": lambda: author.post(
            "/api/v1/tasks/", body, content_type="application/json"
        ),
        "patch": patch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="")
    parser.add_argument("--profile", default="", help="cProfile this scenario")
    args = parser.parse_args()
    from bench.servers import server_env

    os.environ.update(server_env())
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    scenarios = _scenarios()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    for name, call in scenarios.items():
        if only and name not in only:
            continue
        for _ in range(20):
            assert call().status_code < 300, name  # noqa: S101 - a broken scenario
        if args.profile == name:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.requests):
                call()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            continue
        samples = []
        for _ in range(args.repeats):
            start = time.process_time()
            for _ in range(args.requests):
                call()
            samples.append((time.process_time() - start) * 1000 / args.requests)
        # The least of the runs: other work on the machine only ever adds to it.
        print(
            f"{name:<10} min {min(samples):6.3f}  median "
            f"{statistics.median(samples):6.3f} ms CPU/request",
            flush=True,
        )


if __name__ == "__main__":
    main()
