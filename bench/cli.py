"""``python -m bench``: the options, and the run from seeding to the report."""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.servers import ROOT, serve, serve_floor, server_env
from bench.wrk import Shape, ensure_wrk

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({_positive(item) for item in text.split(",") if item}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import bench

    parser = argparse.ArgumentParser(prog="python -m bench", description=bench.__doc__)
    parser.add_argument("--duration", type=_positive, default=10, help="s per run")
    parser.add_argument("--warmup", type=int, default=2, help="s before each run")
    parser.add_argument(
        "--rounds", type=_positive, default=3, help="alternated rounds (medians)"
    )
    parser.add_argument("--connections", type=_positive, default=16)
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
        help="task counts of the scale curve; the list scenarios read the 100k user",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names (default: all)"
    )
    parser.add_argument("--no-curve", action="store_true", help="skip the curve")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
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


def _floor_dsns(url: str, database: str) -> tuple[str, str, str]:
    """The floor's database beside the product's: (admin DSN, floor DSN, name)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    floor_db = os.environ.get("FLOOR_DATABASE", f"{database}_floor")
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    floor = urlunsplit(parts._replace(path=f"/{floor_db}", scheme="postgresql"))
    return admin, floor, floor_db


def _server_shape() -> dict[str, Any]:
    return {
        key: os.environ[key]
        for key in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS")
        if key in os.environ
    } | {"throttle_cache": "redis" if os.environ.get("REDIS_URL") else "database"}


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
    from django.db import connection

    from bench import scenarios, seeding

    started = datetime.now(UTC)
    database = connection.settings_dict["NAME"]
    admin_dsn, floor_dsn, floor_db = _floor_dsns(url, database)
    seeding.ensure_database(admin_dsn, database)
    seeding.prepare_database(env, args.sizes)
    fixtures = seeding.build_fixtures(args, args.rounds)
    floor_fixtures = None
    floor_secret = secrets.token_urlsafe(32)
    if not args.no_floor:
        seeding.prepare_floor(admin_dsn, floor_dsn, floor_db)
        floor_fixtures = seeding.floor_fixtures(floor_dsn, floor_secret)
    load_before = os.getloadavg()
    shape = Shape(threads=args.threads, connections=args.connections)
    print(
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.duration} s per run, {args.rounds} rounds alternating the product "
        "and the floor; medians. app cpu, db cpu: CPU ms per request of gunicorn and "
        "of PostgreSQL; cpu ratio: the floor's app + db CPU over the product's",
        flush=True,
    )
    report.RESULTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        product = stack.enter_context(
            serve(env, report.RESULTS / "server.log", args.serve_from, database)
        )
        floor = None
        if floor_fixtures:
            floor = stack.enter_context(
                serve_floor(
                    floor_dsn, floor_secret, report.RESULTS / "floor.log", floor_db
                )
            )
        rss_start = product.worker_rss_kib()
        only = {name.strip() for name in args.only.split(",") if name.strip()}
        results = scenarios.run_scenarios(
            binary,
            product,
            floor,
            fixtures,
            floor_fixtures,
            only=only,
            rounds=args.rounds,
            warmup=args.warmup,
            duration=args.duration,
            shape=shape,
        )
        print(report.HEADER)
        for result in results:
            print(report.row(result))
        rss_end = product.worker_rss_kib()
        print(f"\nworker RSS KiB at start {rss_start}, at end {rss_end}")
        points: list[dict[str, Any]] = []
        if fixtures.curve:
            print(
                f"\nscale curve: medians of {args.curve_rounds} rounds of "
                f"{args.curve_duration} s, {args.curve_connections} connection(s)"
                f"\n{report.CURVE_HEADER}"
            )
            points = scenarios.run_curve(
                binary,
                product,
                fixtures,
                rounds=args.curve_rounds,
                seconds=args.curve_duration,
                shape=Shape(threads=1, connections=args.curve_connections),
            )
    verdict = report.budget(points)
    report.print_budget(verdict)
    document = {
        "started": started.isoformat(),
        "label": args.label,
        "served_from": str(args.serve_from),
        "commit": report.commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "server": _server_shape(),
        "worker_rss_kib": {"start": rss_start, "end": rss_end},
        "load": {
            "generator": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
        },
        "scenarios": results,
        "curve": points,
        "budget": verdict,
    }
    report.write(document, started.strftime("%Y%m%dT%H%M%SZ"))
    failed = sum(r["errors"] + r["starved"] for r in results)
    return 1 if failed else 0
