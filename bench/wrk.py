"""The load generator: one wrk run, its numbers, and the CPU spent meanwhile."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server, cpu_seconds, database_cpu_seconds

LUA = Path(__file__).resolve().parent / "lua"


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
    machine_cpu_ms: float
    error_sample: str


@dataclass(frozen=True)
class Load:
    """What wrk sends: a Lua script, the bearer token, and the script's data lines."""

    script: str
    token: str
    lines: list[str]


@dataclass(frozen=True)
class Shape:
    """wrk's threads and connections."""

    threads: int
    connections: int


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


def _machine_busy_seconds() -> float:
    """CPU time every core of the machine spent on anything but idling, so far."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def wrk(binary: str, server: Server, load: Load, *, seconds: int, shape: Shape) -> Run:
    """One wrk run of ``seconds``: its numbers from the Lua report line, and the CPU
    the server and the database spent per request (robust to a busy machine, where
    requests per second are not). Machine CPU counts everything on the machine,
    other people's work included: compare it only between runs of one session."""
    threads = min(shape.threads, shape.connections)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as data:
        data.write("\n".join(load.lines) + "\n")
        data.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = server.cpu_seconds()
        db_before = database_cpu_seconds(server.database)
        machine_before = _machine_busy_seconds()
        done = subprocess.run(  # noqa: S603
            [
                binary,
                f"--threads={threads}",
                f"--connections={shape.connections}",
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
        machine_after = _machine_busy_seconds()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_after = server.cpu_seconds()
        db_after = database_cpu_seconds(server.database)
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
        machine_cpu_ms=round((machine_after - machine_before) * per_request, 2),
        error_sample=raw["error_sample"],
    )


__all__ = ["LUA", "Load", "Run", "Shape", "cpu_seconds", "ensure_wrk", "wrk"]
