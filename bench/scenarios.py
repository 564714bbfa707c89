"""The scenarios, run in rounds that alternate the product and the floor."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.report import cpu_ratio, curve_row, row
from bench.seeding import SEARCH_TERM, Fixtures, FloorFixtures
from bench.servers import Server
from bench.wrk import Load, Run, Shape, wrk


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    script: str
    writes: bool
    # The floor's script for the same request, where the floor has one.
    floor_script: str | None = None
    # The scenario whose floor number this one is compared with, if not its own.
    floor_of: str | None = None


SCENARIOS = (
    Scenario(
        "list",
        "GET tasks/, first page of 50 (100k-task user)",
        "paths.lua",
        False,
        floor_script="paths.lua",
    ),
    Scenario(
        "list deep",
        "GET tasks/?cursor= at 10..90 % of the list",
        "paths.lua",
        False,
        floor_of="list",
    ),
    Scenario(
        "filtered", "GET tasks/?status=pending&ordering=due_at", "paths.lua", False
    ),
    Scenario("search", f"GET tasks/?search={SEARCH_TERM}", "paths.lua", False),
    Scenario(
        "detail",
        "GET tasks/{id}/, 1,000 ids round robin",
        "paths.lua",
        False,
        floor_script="paths.lua",
    ),
    Scenario("create", "POST tasks/", "create.lua", True, floor_script="create.lua"),
    Scenario(
        "patch",
        "PATCH tasks/{id}/ with If-Match",
        "patch.lua",
        True,
        floor_script="floor_patch.lua",
    ),
    Scenario(
        "complete", "POST tasks/{id}/complete/ on open tasks", "complete.lua", True
    ),
)


def _lines(scenario: Scenario, fixtures: Fixtures, pool: int) -> list[str]:
    if scenario.name == "patch":
        return fixtures.patch_pools[pool]
    if scenario.name == "complete":
        return fixtures.complete_pools[pool // 2]
    return fixtures.paths.get(scenario.name, [""])


def _median_run(runs: list[Run]) -> dict[str, Any]:
    """The median of each number over the rounds; errors summed."""
    out: dict[str, Any] = {}
    for key in asdict(runs[0]):
        values = [asdict(r)[key] for r in runs]
        if key in {"errors", "non2xx", "socket_errors", "timeouts", "starved"}:
            out[key] = sum(values)
        elif key == "error_sample":
            out[key] = next((v for v in values if v), "")
        elif any(v is None for v in values):
            out[key] = None
        else:
            out[key] = round(statistics.median(values), 2)
    out["rounds_rps"] = [r.rps for r in runs]
    return out


def run_scenarios(
    binary: str,
    product: Server,
    floor: Server | None,
    fixtures: Fixtures,
    floor_fixtures: FloorFixtures | None,
    *,
    only: set[str],
    rounds: int,
    warmup: int,
    duration: int,
    shape: Shape,
) -> list[dict[str, Any]]:
    """Every scenario ``rounds`` times: the product, then (where it has the
    scenario) the floor, each warmed up first. Medians over the rounds."""
    chosen = [s for s in SCENARIOS if not only or s.name in only]
    product_runs: dict[str, list[Run]] = {s.name: [] for s in chosen}
    floor_runs: dict[str, list[Run]] = {s.name: [] for s in chosen}
    for round_no in range(rounds):
        for scenario in chosen:
            token = fixtures.writer_token if scenario.writes else fixtures.reader_token
            if warmup:
                warm = Load(
                    scenario.script, token, _lines(scenario, fixtures, 2 * round_no)
                )
                wrk(binary, product, warm, seconds=warmup, shape=shape)
            load = Load(
                scenario.script, token, _lines(scenario, fixtures, 2 * round_no + 1)
            )
            run = wrk(binary, product, load, seconds=duration, shape=shape)
            product_runs[scenario.name].append(run)
            line = f"round {round_no + 1} {scenario.name:<10} product {run.rps:>8.1f}"
            if floor and floor_fixtures and scenario.floor_script:
                load = Load(
                    scenario.floor_script,
                    floor_fixtures.token,
                    floor_fixtures.paths[scenario.name],
                )
                if warmup:
                    wrk(binary, floor, load, seconds=warmup, shape=shape)
                run = wrk(binary, floor, load, seconds=duration, shape=shape)
                floor_runs[scenario.name].append(run)
                line += f"   floor {run.rps:>8.1f}"
            print(line, flush=True)
    results = []
    for scenario in chosen:
        queries, sql = fixtures.samples[scenario.name]()
        result: dict[str, Any] = {
            "scenario": scenario.name,
            "what": scenario.what,
            **_median_run(product_runs[scenario.name]),
            "queries": queries,
            "sql": sql,
            "floor": None,
        }
        compared = scenario.floor_of or scenario.name
        if floor_runs.get(compared):
            result["floor"] = _median_run(floor_runs[compared])
        results.append(result)
    _add_ratios(results)
    for result in results:
        print(row(result), flush=True)
    return results


def _add_ratios(results: list[dict[str, Any]]) -> None:
    """Product / floor per scenario; filtered and search against the plain list."""
    by_name = {r["scenario"]: r for r in results}
    for result in results:
        result["ratio"] = None
        result["vs_list"] = None
        result["cpu_ratio"] = None
        if result["floor"]:
            result["ratio"] = round(result["rps"] / result["floor"]["rps"], 3)
            result["cpu_ratio"] = cpu_ratio(result, result["floor"])
        plain = by_name.get("list")
        if result["scenario"] in {"filtered", "search"} and plain:
            result["vs_list"] = round(result["rps"] / plain["rps"], 3)


def run_curve(
    binary: str,
    server: Server,
    fixtures: Fixtures,
    *,
    rounds: int,
    seconds: int,
    shape: Shape,
) -> list[dict[str, Any]]:
    """First and deep pages per user size, in rounds; medians over the rounds.

    Going round the sizes several times spreads a busy spell of the machine over
    all of them instead of charging it to one.
    """
    runs: dict[tuple[int, str], list[Run]] = {}
    for _ in range(rounds):
        for size, (token, first, deep) in sorted(fixtures.curve.items()):
            for label, path in (("first", first), ("deep", deep)):
                load = Load("paths.lua", token, [path])
                wrk(binary, server, load, seconds=1, shape=shape)
                run = wrk(binary, server, load, seconds=seconds, shape=shape)
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
        print(curve_row(point), flush=True)
    return points
