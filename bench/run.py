"""Benchmark the task API as production serves it: ``make bench`` (``python -m bench``).

1. ``manage.py migrate``; ``manage.py seed`` unless the benchmark's users are already
   there (``scale-N@seed.example.com`` for N in ``--sizes``, 1.1M tasks by default);
   ``VACUUM ANALYZE``.
2. In this process: a writer user, tokens, task pools and cursors.
3. ``make serve`` (production settings under gunicorn, as deployed) in a process group
   of its own on a free loopback port; its log goes to bench/results/server.log.
4. wrk, a separate C process driven by the Lua scripts in bench/lua/, for each
   scenario: a warm-up, then the measured run, with the CPU the server's processes
   and the database's backends spent meanwhile (from /proc); then one sample request
   of the scenario through Django's test client in this process, counting the SQL it
   sends with ``CaptureQueriesContext``. That count is exact per request and needs
   neither pg_stat_statements (a server restart to preload) nor a debug switch in the
   server under test; it leaves out the ``SELECT 1`` health check Django makes below
   the cursor level on a reused connection, once per request.
5. The scale curve: first and deep list pages of users with 1k ... 1M tasks, over one
   connection, in rounds.

Prints the tables and writes them to bench/results/<time>.json and latest.json. The
user throttle never refuses (it still runs on every request) and tokens live for an
hour; nothing else differs from ``make serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "lua"
RESULTS = ROOT / "bench" / "results"

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SEED_ARGS = ("--users", "100", "--tasks-per-user", "100", "--seed", "42")
WRITER_EMAIL = "bench-writer@bench.example.com"
SEARCH_TERM = "dentist"
DEEP_SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
BUDGET_RATIO = 1.2


# --- options and environment ---------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({_positive(item) for item in text.split(",") if item}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=_positive, default=10, help="s per run")
    parser.add_argument("--warmup", type=int, default=2, help="s before each run")
    parser.add_argument("--connections", type=_positive, default=8)
    parser.add_argument("--threads", type=_positive, default=2, help="wrk threads")
    parser.add_argument("--curve-duration", type=_positive, default=3)
    parser.add_argument("--curve-rounds", type=_positive, default=4)
    parser.add_argument(
        "--curve-connections",
        type=_positive,
        default=1,
        help="one by default: the latency of a request, not of a queue",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="task counts of the scale curve; the largest is the heavy user",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names (default: all)"
    )
    parser.add_argument("--no-curve", action="store_true", help="skip the curve")
    parser.add_argument("--label", default="", help="stored with the results")
    parser.add_argument(
        "--serve-from",
        type=Path,
        default=ROOT,
        help="run `make serve` in this checkout (to compare versions; same schema)",
    )
    args = parser.parse_args(argv)
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


def server_env() -> dict[str, str]:
    """``make serve``'s environment: production settings, loopback, plain HTTP."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(48))
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        # The user throttle still runs on every request, but never refuses: a
        # one-second window keeps its request history (read and written back on
        # every request) about as long as production's 600/min does at most.
        API_THROTTLE_USER="100000/s",
        JWT_ACCESS_TOKEN_MINUTES="60",  # noqa: S106 - a lifetime, not a secret
    )
    return env


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing and root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)  # noqa: S607
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian/Ubuntu)")
    return found


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True
    )


# --- the database and the fixtures (in this process, through Django) -----------------


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


def prepare_database(env: dict[str, str], sizes: tuple[int, ...]) -> None:
    from django.db import connection

    from accounts.models import User
    from todos.management.commands.seed import scale_user_email
    from todos.models import Task

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
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE todos_task")


def _token(user: Any) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def _deep_cursor(user: Any, share: float) -> str:
    """A cursor ``share`` of the way down ``user``'s list, signed as the API does."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from todos.models import Task
    from todos.pagination import DEFAULT_ORDERING, ORDERINGS, TaskCursorPagination

    key = ORDERINGS[DEFAULT_ORDERING]
    rows = Task.objects.filter(owner=user).order_by(*key.order_by())
    row = rows.only("id", key.column)[int(rows.count() * share)]
    request = Request(APIRequestFactory().get("/api/v1/tasks/"))
    request.user = user
    paginator = TaskCursorPagination()
    paginator.request, paginator.ordering_name, paginator.key = (
        request,
        DEFAULT_ORDERING,
        key,
    )
    return paginator._cursor(row, reverse=False)


def _open_tasks(owner: Any, count: int, label: str) -> list[Any]:
    from todos.models import Task

    tasks = [
        Task(owner=owner, title=f"Bench {label} {n}", description="Benchmark fixture.")
        for n in range(count)
    ]
    return Task.objects.bulk_create(tasks, batch_size=5_000)


def build_fixtures(args: argparse.Namespace) -> Fixtures:
    from accounts.models import User
    from api.conditional import etag_for
    from todos.management.commands.seed import scale_user_email
    from todos.models import Task

    reader = User.objects.get(email=scale_user_email(max(args.sizes)))
    writer = User.objects.create_user(
        email=WRITER_EMAIL, password=secrets.token_urlsafe(16)
    )
    tasks = "/api/v1/tasks/"
    deep = [
        f"{tasks}?{urlencode({'cursor': _deep_cursor(reader, s)})}" for s in DEEP_SHARES
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
    }
    # PATCH: every wrk thread owns more tasks than it has connections.
    per_run = args.connections + 2 * args.threads
    patch = tuple(
        [f"{t.pk} {etag_for(t)}" for t in _open_tasks(writer, per_run, f"patch {run}")]
        for run in ("warm", "main")
    )
    # Complete: one open task per request, with room to spare.
    complete = tuple(
        [str(t.pk) for t in _open_tasks(writer, 1_000 * (seconds + 2), f"done {run}")]
        for run, seconds in (("warm", args.warmup), ("main", args.duration))
    )
    fixtures = Fixtures(
        reader_token=_token(reader),
        writer_token=_token(writer),
        paths=paths,
        patch_pools=(patch[0], patch[1]),
        complete_pools=(complete[0], complete[1]),
    )
    if not args.no_curve:
        for size in args.sizes:
            user = User.objects.get(email=scale_user_email(size))
            middle = urlencode({"cursor": _deep_cursor(user, 0.5)})
            fixtures.curve[size] = (_token(user), tasks, f"{tasks}?{middle}")
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

    samples = {name: get(paths[0]) for name, paths in fixtures.paths.items()}
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


# --- the server and the load generator -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its reaped children (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """The running ``make serve``: its URL and its process group."""

    base: str
    group: int

    def cpu_seconds(self) -> float:
        """CPU used so far by make, gunicorn's master and its workers (all of ours)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry.name)) == self.group:
                        total += _cpu_seconds(int(entry.name))
        return total


def database_cpu_seconds() -> dict[int, float] | None:
    """CPU of each PostgreSQL backend connected to this database, when local.

    A backend that exits between two readings takes its last CPU along, so the
    differences are a lower bound.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [int(pid) for (pid,) in cursor.fetchall()]
    if not pids or not Path(f"/proc/{pids[0]}").exists():
        return None
    return {pid: _cpu_seconds(pid) for pid in pids}


@contextlib.contextmanager
def serve(env: dict[str, str], log_path: Path, checkout: Path) -> Iterator[Server]:
    """``make serve`` in ``checkout`` on a free loopback port, until the block ends."""
    port = _free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],  # noqa: S607
            cwd=checkout,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            health = f"{base}/healthz"
            with contextlib.suppress(OSError), urllib.request.urlopen(health) as r:  # noqa: S310
                if r.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"make serve did not come up; see {log_path}")
            time.sleep(0.25)
        yield Server(base=base, group=proc.pid)
    finally:
        # The process group holds make, gunicorn's master and its workers: all ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Run:
    requests: int
    rps: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non2xx: int
    socket_errors: int
    timeouts: int
    starved: int
    wrapped: int
    loadgen_cpu: float
    server_cpu_ms: float
    db_cpu_ms: float | None
    error_sample: str


@dataclass(frozen=True)
class Load:
    """What wrk sends: a Lua script, the bearer token, and the script's data lines."""

    script: str
    token: str
    lines: list[str]


def wrk(
    binary: str,
    server: Server,
    load: Load,
    *,
    seconds: int,
    args: argparse.Namespace,
    connections: int | None = None,
) -> Run:
    """One wrk run of ``seconds``: its numbers from the Lua report line, and the CPU
    the server and the database spent per request (robust to a busy machine, where
    requests per second are not)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as data:
        data.write("\n".join(load.lines) + "\n")
        connections = connections or args.connections
        threads = min(args.threads, connections)
        data.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before, db_before = server.cpu_seconds(), database_cpu_seconds()
        done = subprocess.run(  # noqa: S603
            [
                binary,
                f"--threads={threads}",
                f"--connections={connections}",
                f"--duration={seconds}s",
                "--timeout=10s",
                f"--header=Authorization: Bearer {load.token}",
                f"--script={LUA / load.script}",
                server.base,
                "--",
                data.name,
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_after, db_after = server.cpu_seconds(), database_cpu_seconds()
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    wall = raw["duration_us"] / 1e6

    def ms(key: str) -> float:
        return round(raw[key] / 1000, 2)

    errors = raw["non2xx"] + raw["socket_errors"] + raw["timeouts"]
    per_request = 1000 / max(raw["requests"], 1)
    db_cpu = None
    if db_before is not None and db_after is not None:
        spent = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
        db_cpu = round(spent * per_request, 2)
    return Run(
        requests=raw["requests"],
        rps=round(raw["requests"] / wall, 1),
        mean_ms=ms("mean_us"),
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p95_ms=ms("p95_us"),
        p99_ms=ms("p99_us"),
        max_ms=ms("max_us"),
        errors=errors,
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"],
        timeouts=raw["timeouts"],
        starved=raw["starved"],
        wrapped=raw["wrapped"],
        loadgen_cpu=round(cpu / wall, 3),
        server_cpu_ms=round((server_after - server_before) * per_request, 2),
        db_cpu_ms=db_cpu,
        error_sample=raw["error_sample"],
    )


# --- scenarios ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    script: str
    writes: bool


SCENARIOS = (
    Scenario("list", "GET tasks/, first page of 50 (1M-task user)", "paths.lua", False),
    Scenario(
        "list deep",
        "GET tasks/?cursor= at 10..90 % of the 1M-task list",
        "paths.lua",
        False,
    ),
    Scenario(
        "filtered", "GET tasks/?status=pending&ordering=due_at", "paths.lua", False
    ),
    Scenario("search", f"GET tasks/?search={SEARCH_TERM}", "paths.lua", False),
    Scenario("detail", "GET tasks/{id}/, 1,000 ids round robin", "paths.lua", False),
    Scenario("create", "POST tasks/", "create.lua", True),
    Scenario("patch", "PATCH tasks/{id}/ with If-Match", "patch.lua", True),
    Scenario(
        "complete", "POST tasks/{id}/complete/ on open tasks", "complete.lua", True
    ),
)


def _lines(scenario: Scenario, fixtures: Fixtures, warm: bool) -> list[str]:
    index = 0 if warm else 1
    if scenario.name == "patch":
        return fixtures.patch_pools[index]
    if scenario.name == "complete":
        return fixtures.complete_pools[index]
    return fixtures.paths.get(scenario.name, [""])


def run_scenarios(
    binary: str, server: Server, fixtures: Fixtures, args: argparse.Namespace
) -> list[dict[str, Any]]:
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    results = []
    for scenario in SCENARIOS:
        if only and scenario.name not in only:
            continue
        token = fixtures.writer_token if scenario.writes else fixtures.reader_token
        if args.warmup:
            warm = Load(scenario.script, token, _lines(scenario, fixtures, True))
            wrk(binary, server, warm, seconds=args.warmup, args=args)
        load = Load(scenario.script, token, _lines(scenario, fixtures, False))
        run = wrk(binary, server, load, seconds=args.duration, args=args)
        queries, sql = fixtures.samples[scenario.name]()
        results.append(
            {
                "scenario": scenario.name,
                "what": scenario.what,
                **asdict(run),
                "queries": queries,
                "sql": sql,
            }
        )
        print(_row(results[-1]), flush=True)
    return results


def run_curve(
    binary: str, server: Server, fixtures: Fixtures, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """First and deep pages per user size, in rounds; medians over the rounds.

    Going round the sizes several times spreads a busy spell of the machine over
    all of them instead of charging it to one.
    """
    runs: dict[tuple[int, str], list[Run]] = {}
    for _ in range(args.curve_rounds):
        for size, (token, first, deep) in sorted(fixtures.curve.items()):
            for label, path in (("first", first), ("deep", deep)):
                load = Load("paths.lua", token, [path])
                once = {"args": args, "connections": args.curve_connections}
                wrk(binary, server, load, seconds=1, **once)
                run = wrk(binary, server, load, seconds=args.curve_duration, **once)
                runs.setdefault((size, label), []).append(run)
    points = []
    for size in sorted(fixtures.curve):
        point: dict[str, Any] = {"tasks": size}
        for label in ("first", "deep"):
            done = runs[(size, label)]
            point[label] = {
                "p50_ms": statistics.median(r.p50_ms for r in done),
                "p99_ms": statistics.median(r.p99_ms for r in done),
                "rps": statistics.median(r.rps for r in done),
                "server_cpu_ms": statistics.median(r.server_cpu_ms for r in done),
                "errors": sum(r.errors for r in done),
                "runs": [asdict(r) for r in done],
            }
        points.append(point)
        print(_curve_row(point), flush=True)
    return points


# --- report ------------------------------------------------------------------------

HEADER = (
    f"{'scenario':<10} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
    f"{'errors':>6} {'queries':>7} {'app cpu':>8} {'db cpu':>7}"
)
CURVE_HEADER = (
    f"{'tasks':>10} {'first p50':>10} {'p99':>7} {'req/s':>7} {'app cpu':>8}   "
    f"{'deep p50':>9} {'p99':>7} {'req/s':>7} {'app cpu':>8}"
)


def _row(r: dict[str, Any]) -> str:
    note = ""
    if r["starved"] or r["wrapped"]:
        note = f"  (starved {r['starved']}, wrapped {r['wrapped']})"
    if r["error_sample"]:
        note += f"  first error: {r['error_sample'][:80]}"
    db = "-" if r["db_cpu_ms"] is None else f"{r['db_cpu_ms']:.2f}"
    return (
        f"{r['scenario']:<10} {r['rps']:>7.1f} {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} "
        f"{r['p99_ms']:>7.2f} {r['errors']:>6d} {r['queries']:>7d} "
        f"{r['server_cpu_ms']:>8.2f} {db:>7}{note}"
    )


def _curve_row(p: dict[str, Any]) -> str:
    f, d = p["first"], p["deep"]
    return (
        f"{p['tasks']:>10,} {f['p50_ms']:>10.2f} {f['p99_ms']:>7.2f} "
        f"{f['rps']:>7.1f} {f['server_cpu_ms']:>8.2f}   {d['p50_ms']:>9.2f} "
        f"{d['p99_ms']:>7.2f} {d['rps']:>7.1f} {d['server_cpu_ms']:>8.2f}"
    )


def budget(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest user's list over the smallest's, and deep over first page.

    In p50 latency (the budget) and in server CPU per request (steadier when the
    machine is shared).
    """
    if len(points) < 2:
        return {}
    small, large = points[0], points[-1]

    def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
        return round(a[key] / b[key], 3)

    p50 = ratio(large["first"], small["first"], "p50_ms")
    deep = ratio(large["deep"], large["first"], "p50_ms")
    return {
        "between": [small["tasks"], large["tasks"]],
        "list_p50_ratio": p50,
        "deep_over_first_p50": deep,
        "list_cpu_ratio": ratio(large["first"], small["first"], "server_cpu_ms"),
        "deep_over_first_cpu": ratio(large["deep"], large["first"], "server_cpu_ms"),
        "limit": BUDGET_RATIO,
        "within": p50 <= BUDGET_RATIO and deep <= BUDGET_RATIO,
    }


def _server_shape() -> dict[str, Any]:
    cores = os.cpu_count() or 1
    return {
        "workers": int(os.environ.get("WEB_CONCURRENCY", cores * 2 + 1)),
        "threads": int(os.environ.get("GUNICORN_THREADS", "4")),
        "throttle_cache": "redis" if os.environ.get("REDIS_URL") else "database",
    }


def _commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("make bench needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    binary = ensure_wrk()
    env = server_env()
    # This process shares the server's settings and secrets (to sign tokens and
    # cursors) but not its log level: only the server logs every request.
    os.environ.update(env)
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()

    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    prepare_database(env, args.sizes)
    fixtures = build_fixtures(args)
    load_before = os.getloadavg()
    print(
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.duration} s per scenario; app cpu, db cpu: CPU ms per request of "
        f"gunicorn and of PostgreSQL\n{HEADER}",
        flush=True,
    )
    with serve(env, RESULTS / "server.log", args.serve_from) as server:
        scenarios = run_scenarios(binary, server, fixtures, args)
        points: list[dict[str, Any]] = []
        if fixtures.curve:
            print(
                f"\nscale curve: medians of {args.curve_rounds} rounds of "
                f"{args.curve_duration} s, {args.curve_connections} connection(s)"
                f"\n{CURVE_HEADER}"
            )
            points = run_curve(binary, server, fixtures, args)
    verdict = budget(points)
    if verdict:
        print(
            f"\nlist p50 at {verdict['between'][1]:,} / at {verdict['between'][0]:,} "
            f"tasks: {verdict['list_p50_ratio']:.2f}; deep / first page at "
            f"{verdict['between'][1]:,}: {verdict['deep_over_first_p50']:.2f} "
            f"(budget {BUDGET_RATIO}: {'within' if verdict['within'] else 'OVER'}); "
            f"in app CPU per request: {verdict['list_cpu_ratio']:.2f} and "
            f"{verdict['deep_over_first_cpu']:.2f}"
        )
    report = {
        "started": started.isoformat(),
        "label": args.label,
        "served_from": str(args.serve_from),
        "commit": _commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "server": _server_shape(),
        "load": {
            "generator": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "curve": {
                "connections": args.curve_connections,
                "rounds": args.curve_rounds,
                "duration_s": args.curve_duration,
            },
        },
        "scenarios": scenarios,
        "curve": points,
        "budget": verdict,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: bench/results/{stamp}.json")
    failed = sum(r["errors"] + r["starved"] for r in scenarios)
    return 1 if failed else 0
