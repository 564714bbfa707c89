"""The servers under load: ``make serve`` and the raw WSGI floor beside it."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _floor_dir() -> Path:
    """FLOOR_DIR, else the nearest ``shared/perf/floor`` beside a parent folder."""
    if os.environ.get("FLOOR_DIR"):
        return Path(os.environ["FLOOR_DIR"])
    for parent in ROOT.parents:
        if (parent / "shared" / "perf" / "floor" / "app.py").exists():
            return parent / "shared" / "perf" / "floor"
    return ROOT.parent / "shared" / "perf" / "floor"


FLOOR = _floor_dir()


def server_env() -> dict[str, str]:
    """``make serve``'s environment: production settings, loopback, plain HTTP."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(48))
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        # The user throttle still runs on every request, but never refuses.
        API_THROTTLE_USER="100000/s",
        JWT_ACCESS_TOKEN_MINUTES="60",  # noqa: S106 - a lifetime, not a secret
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its reaped children (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Server:
    """A running server: its URL, its process group and the database it reads."""

    name: str
    base: str
    group: int
    database: str

    def pids(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry.name)) == self.group:
                        found.append(int(entry.name))
        return found

    def cpu_seconds(self) -> float:
        """CPU used so far by every process of the group (all of them ours)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def worker_rss_kib(self) -> list[int]:
        """Resident memory of each gunicorn worker (children of the master)."""
        pids = set(self.pids())
        workers = []
        for pid in pids:
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) in pids and "gunicorn" in Path(
                    f"/proc/{pid}/cmdline"
                ).read_text(errors="replace"):
                    workers.append(_rss_kib(pid))
        return sorted(workers)


def database_cpu_seconds(database: str) -> dict[int, float] | None:
    """CPU of each PostgreSQL backend connected to ``database``, when local.

    A backend that exits between two readings takes its last CPU along, so the
    differences are a lower bound.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        pids = [int(pid) for (pid,) in cursor.fetchall()]
    if not pids or not Path(f"/proc/{pids[0]}").exists():
        return None
    return {pid: cpu_seconds(pid) for pid in pids}


@contextlib.contextmanager
def _process_group(
    name: str,
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    port: int,
    database: str,
    ready: str,
) -> Iterator[Server]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + ready) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except urllib.error.HTTPError:
                break  # it answers: the floor has no health route and says 401
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come up; see {log_path}")
            time.sleep(0.25)
        yield Server(name=name, base=base, group=proc.pid, database=database)
    finally:
        # The process group holds the server's master and its workers: all ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve(
    env: dict[str, str], log_path: Path, checkout: Path, database: str
) -> contextlib.AbstractContextManager[Server]:
    """``make serve`` in ``checkout`` on a free loopback port, until the block ends."""
    port = free_port()
    return _process_group(
        "product",
        ["make", "--no-print-directory", "serve"],
        cwd=checkout,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        log_path=log_path,
        port=port,
        database=database,
        ready="/healthz",
    )


def serve_floor(
    dsn: str, secret: str, log_path: Path, database: str, workers: int = 2
) -> contextlib.AbstractContextManager[Server]:
    """The floor app as its README runs it: ``gunicorn -w 2 app:app``."""
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {**os.environ, "FLOOR_DSN": dsn, "FLOOR_SECRET": secret}
    return _process_group(
        "floor",
        [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=FLOOR,
        env=env,
        log_path=log_path,
        port=port,
        database=database,
        ready="/tasks",
    )
