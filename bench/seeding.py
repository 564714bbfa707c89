"""The benchmark's data: the seeded database, the floor's table, tokens and pools."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import psycopg

from bench.servers import FLOOR, manage

SEED_ARGS = ("--users", "100", "--tasks-per-user", "100", "--seed", "42")
WRITER_EMAIL = "bench-writer@bench.example.com"
SEARCH_TERM = "dentist"
DEEP_SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
# The list user's size: the floor's heavy user has as many tasks.
LIST_USER_TASKS = 100_000
FLOOR_HEAVY_USER = "00000000-0000-0000-0000-999999999999"
FLOOR_TASKS = 200_000


@dataclass
class Fixtures:
    reader_token: str
    writer_token: str
    paths: dict[str, list[str]]
    patch_pools: tuple[list[str], list[str]]
    complete_pools: tuple[list[str], list[str]]
    curve: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    samples: dict[str, Callable[[], tuple[int, list[str]]]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class FloorFixtures:
    token: str
    paths: dict[str, list[str]]


def list_user_size(sizes: tuple[int, ...]) -> int:
    """The seeded size the list scenarios read: the floor's, when it was seeded."""
    return LIST_USER_TASKS if LIST_USER_TASKS in sizes else max(sizes)


def prepare_database(env: dict[str, str], sizes: tuple[int, ...]) -> None:
    from django.db import connection

    from accounts.models import User
    from todos.models import Task
    from todos.seeding import scale_user_email

    manage(env, "migrate", "--no-input", "--verbosity", "0")
    # Idempotent; covers a database migrated under settings with another cache.
    manage(env, "createcachetable", "--verbosity", "0")
    seeded = True
    for size in sizes:
        user = User.objects.filter(email=scale_user_email(size)).first()
        if user is None or Task.objects.filter(owner=user).count() != size:
            seeded = False
            break
    if not seeded:
        print(
            f"Seeding users of {', '.join(f'{s:,}' for s in sizes)} tasks", flush=True
        )
        scale = ",".join(str(size) for size in sizes)
        manage(env, "seed", "--reset", *SEED_ARGS, "--scale-users", scale)
    User.objects.filter(email=WRITER_EMAIL).delete()
    # Statistics for every table a list reads, as autovacuum would have them (it may
    # be off, as on the CI machine): without them the label ids' subquery is planned
    # as a bitmap scan and a sort, about twice its PostgreSQL time.
    with connection.cursor() as cursor:
        for table in SEEDED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


SEEDED_TABLES = (
    "accounts_user",
    "todos_task",
    "todos_tasklist",
    "todos_label",
    "todos_tasklabel",
)


def ensure_database(admin_dsn: str, database: str) -> None:
    """Create ``database`` on the server unless it is there (a fresh machine)."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        ).fetchone()
        if not exists:
            print(f"Creating the database {database}", flush=True)
            admin.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(
                    psycopg.sql.Identifier(database)
                )
            )


def prepare_floor(admin_dsn: str, dsn: str, database: str) -> None:
    """The floor's database and table (``schema.sql``), made once and then reused."""
    ensure_database(admin_dsn, database)
    with psycopg.connect(dsn, autocommit=True) as floor:
        table = floor.execute("SELECT to_regclass('floor_task')").fetchone()
        count = 0
        if table and table[0]:
            row = floor.execute("SELECT count(*) FROM floor_task").fetchone()
            count = int(row[0]) if row else 0
        if count < FLOOR_TASKS:
            print("Loading the floor's table (schema.sql)", flush=True)
            floor.execute((FLOOR / "schema.sql").read_text())
        else:
            # Rows the create scenario added in an earlier run.
            floor.execute("DELETE FROM floor_task WHERE title LIKE 'Benchmark task %%'")
        floor.execute("VACUUM ANALYZE floor_task")


def floor_fixtures(dsn: str, secret: str) -> FloorFixtures:
    import jwt

    with psycopg.connect(dsn) as floor:
        ids = [
            str(pk)
            for (pk,) in floor.execute(
                "SELECT id FROM floor_task WHERE owner_id = %s ORDER BY random() "
                "LIMIT 1000",
                [FLOOR_HEAVY_USER],
            ).fetchall()
        ]
    token = jwt.encode({"sub": FLOOR_HEAVY_USER}, secret, algorithm="HS256")
    return FloorFixtures(
        token=token,
        paths={
            "list": ["/tasks"],
            "detail": [f"/tasks/{pk}" for pk in ids],
            "create": ["/tasks"],
            "patch": ids,
        },
    )


def token_for(user: Any) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def deep_cursor(user: Any, share: float) -> str:
    """A cursor ``share`` of the way down ``user``'s list, as the API signs it."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from todos.models import Task
    from todos.pagination import DEFAULT_ORDERING, ORDERINGS, TaskCursorPagination

    key = ORDERINGS[DEFAULT_ORDERING]
    rows = Task.objects.filter(owner=user).order_by(*key.order_by())
    row = rows.only("id", key.column)[int(rows.count() * share)]
    request = Request(APIRequestFactory().get("/api/v1/tasks/"))
    request.user = user
    return TaskCursorPagination().cursor_for(request, row)


def _open_tasks(owner: Any, count: int, label: str) -> list[Any]:
    from todos.models import Task

    tasks = [
        Task(owner=owner, title=f"Bench {label} {n}", description="Benchmark fixture.")
        for n in range(count)
    ]
    return Task.objects.bulk_create(tasks, batch_size=5_000)


def build_fixtures(args: argparse.Namespace, rounds: int) -> Fixtures:
    from accounts.models import User
    from api.conditional import etag_for
    from todos.models import Task
    from todos.seeding import scale_user_email

    reader = User.objects.get(email=scale_user_email(list_user_size(args.sizes)))
    writer = User.objects.create_user(
        email=WRITER_EMAIL, password=secrets.token_urlsafe(16)
    )
    tasks = "/api/v1/tasks/"
    deep = [
        f"{tasks}?{urlencode({'cursor': deep_cursor(reader, s)})}" for s in DEEP_SHARES
    ]
    detail_ids = (
        Task.objects.filter(owner=reader)
        .order_by("?")
        .values_list("id", flat=True)[:1_000]
    )
    paths = {
        "list": [tasks],
        "list deep": deep,
        "filtered": [f"{tasks}?status=pending&ordering=due_at"],
        "search": [f"{tasks}?search={SEARCH_TERM}"],
        "detail": [f"{tasks}{pk}/" for pk in detail_ids],
        "create": [tasks],
    }
    # PATCH: every wrk thread owns more tasks than it has connections; the pool's
    # ETags move on as it is used, so each run gets a pool of its own.
    per_run = args.connections + 2 * args.threads
    patch = tuple(
        [f"{t.pk} {etag_for(t)}" for t in _open_tasks(writer, per_run, f"patch {n}")]
        for n in range(2 * rounds)
    )
    # Complete: one open task per request, with room to spare.
    seconds = args.warmup + args.duration
    complete = tuple(
        [str(t.pk) for t in _open_tasks(writer, 1_000 * (seconds + 2), f"done {n}")]
        for n in range(rounds)
    )
    fixtures = Fixtures(
        reader_token=token_for(reader),
        writer_token=token_for(writer),
        paths=paths,
        patch_pools=patch,  # type: ignore[arg-type]
        complete_pools=complete,  # type: ignore[arg-type]
    )
    if not args.no_curve:
        for size in args.sizes:
            user = User.objects.get(email=scale_user_email(size))
            middle = urlencode({"cursor": deep_cursor(user, 0.5)})
            fixtures.curve[size] = (token_for(user), tasks, f"{tasks}?{middle}")
    fixtures.samples = _samples(fixtures, writer)
    return fixtures


def _samples(
    fixtures: Fixtures, writer: Any
) -> dict[str, Callable[[], tuple[int, list[str]]]]:
    """One representative request per scenario, for counting its SQL queries."""
    from django.test import Client

    from api.conditional import etag_for

    reader = Client(HTTP_HOST="127.0.0.1")
    reader.defaults["HTTP_AUTHORIZATION"] = f"Bearer {fixtures.reader_token}"
    author = Client(HTTP_HOST="127.0.0.1")
    author.defaults["HTTP_AUTHORIZATION"] = f"Bearer {fixtures.writer_token}"
    spare_patch, spare_done = _open_tasks(writer, 2, "sample")
    body = '{"title": "Sample", "priority": "high", "due_at": "2031-01-31T17:00:00Z"}'

    def get(path: str) -> Callable[[], Any]:
        return lambda: reader.get(path)

    samples = {
        name: get(paths[0])
        for name, paths in fixtures.paths.items()
        if name != "create"
    }
    samples["create"] = lambda: author.post(
        "/api/v1/tasks/", body, content_type="application/json"
    )
    samples["patch"] = lambda: author.patch(
        f"/api/v1/tasks/{spare_patch.pk}/",
        '{"title": "Sample edit"}',
        content_type="application/json",
        HTTP_IF_MATCH=etag_for(spare_patch),
    )
    samples["complete"] = lambda: author.post(
        f"/api/v1/tasks/{spare_done.pk}/complete/", "", content_type="application/json"
    )
    return {name: _counted(call) for name, call in samples.items()}


def _counted(call: Callable[[], Any]) -> Callable[[], tuple[int, list[str]]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run() -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = call()
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"sample request failed: {response.status_code}")
        return len(queries), [q["sql"][:160] for q in queries]

    return run
