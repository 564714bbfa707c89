"""The printed tables, the scale-curve budget and the JSON results file."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BUDGET_RATIO = 1.2

HEADER = (
    f"{'scenario':<10} {'req/s':>7} {'floor':>7} {'ratio':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'errors':>6} {'queries':>7} {'app cpu':>8} {'db cpu':>7} "
    f"{'floor cpu':>9} {'cpu ratio':>9}"
)
CURVE_HEADER = (
    f"{'tasks':>10} {'first p50':>10} {'p99':>7} {'req/s':>7} {'app cpu':>8}   "
    f"{'deep p50':>9} {'p99':>7} {'req/s':>7} {'app cpu':>8}"
)


def row(r: dict[str, Any]) -> str:
    """One scenario: medians of the product, the floor's req/s and the ratio.

    ``app cpu`` and ``db cpu`` are the server's and PostgreSQL's CPU per request;
    ``floor cpu`` the floor's two together, and ``cpu ratio`` floor over product:
    what the req/s ratio would be if both were bound by those CPUs alone, which a
    machine shared with other work does not disturb as much as it does req/s.
    """
    note = ""
    if r["starved"] or r["wrapped"]:
        note = f"  (starved {r['starved']}, wrapped {r['wrapped']})"
    if r["error_sample"]:
        note += f"  first error: {r['error_sample'][:80]}"
    if r.get("vs_list") is not None:
        note += f"  ({r['vs_list']:.2f} x list)"
    floor = r.get("floor")
    floor_rps = f"{floor['rps']:.0f}" if floor else "-"
    floor_cpu = f"{_cpu(floor):.2f}" if floor else "-"
    cpu_ratio = f"{r['cpu_ratio']:.3f}" if r.get("cpu_ratio") is not None else "-"
    ratio = f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-"
    db = "-" if r["db_cpu_ms"] is None else f"{r['db_cpu_ms']:.2f}"
    return (
        f"{r['scenario']:<10} {r['rps']:>7.1f} {floor_rps:>7} {ratio:>6} "
        f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>6d} "
        f"{r['queries']:>7d} {r['server_cpu_ms']:>8.2f} {db:>7} "
        f"{floor_cpu:>9} {cpu_ratio:>9}{note}"
    )


def _cpu(r: dict[str, Any]) -> float:
    return float(r["server_cpu_ms"] + (r["db_cpu_ms"] or 0))


def cpu_ratio(product: dict[str, Any], floor: dict[str, Any]) -> float:
    """Floor CPU per request over the product's (server and database)."""
    return round(_cpu(floor) / _cpu(product), 3)


def curve_row(p: dict[str, Any]) -> str:
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


def print_budget(verdict: dict[str, Any]) -> None:
    if not verdict:
        return
    print(
        f"\nlist p50 at {verdict['between'][1]:,} / at {verdict['between'][0]:,} "
        f"tasks: {verdict['list_p50_ratio']:.2f}; deep / first page at "
        f"{verdict['between'][1]:,}: {verdict['deep_over_first_p50']:.2f} "
        f"(budget {BUDGET_RATIO}: {'within' if verdict['within'] else 'OVER'}); "
        f"in app CPU per request: {verdict['list_cpu_ratio']:.2f} and "
        f"{verdict['deep_over_first_cpu']:.2f}"
    )


def commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return ""


def write(report: dict[str, Any], stamp: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in (f"{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: bench/results/{stamp}.json")
