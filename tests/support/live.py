"""Real server processes for tests that must cross process boundaries."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NOT_INHERITED = ("DJANGO_", "API_", "JWT_", "DATABASE_", "DIRECT_DATABASE_")


def server_env(**overrides: str) -> dict[str, str]:
    """Production settings with test secrets, plain HTTP and no inherited database.

    Nothing about the database is inherited (URL, DIRECT_DATABASE_URL, the pooler
    switch): ``manage.py migrate`` would otherwise migrate the suite's
    DIRECT_DATABASE_URL instead of the server's database. Callers pass what they need.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO_", "API_", "JWT_", "DATABASE_", "DIRECT_DATABASE_")
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="live-test-secret-key-" + "x" * 40,
        JWT_SIGNING_KEY="live-test-jwt-signing-key-" + "y" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@contextmanager
def gunicorn(
    env: dict[str, str],
    workers: int = 1,
    log: Path | None = None,
    *,
    threads: int = 1,
    production_config: bool = False,
) -> Iterator[str]:
    """Run the WSGI app under gunicorn; yield its base URL; stop it afterwards.

    The server's stderr (where the application logs) goes to ``log``, or to an
    anonymous temporary file: never to a pipe nobody reads, which could fill and stall
    the server.
    ``production_config`` loads config/gunicorn.conf.py (what `make serve` runs) and
    passes ``workers`` and ``threads`` the way production does (WEB_CONCURRENCY,
    GUNICORN_THREADS); command-line options would override the file.
    """
    # Closed in the finally below, once the server has stopped writing to it.
    sink: IO[bytes] = tempfile.TemporaryFile() if log is None else log.open("w+b")  # noqa: SIM115
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "config.wsgi"]
    if production_config:
        command += ["--config", str(ROOT / "config" / "gunicorn.conf.py")]
        env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_LOG_LEVEL": "warning",
        }
    else:
        command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command += ["--log-level", "warning"]
        if threads != 1:
            command += ["--threads", str(threads)]
    proc = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=sink,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sink.seek(0)
                    err = sink.read().decode(errors="replace")
                    raise RuntimeError(f"gunicorn did not start: {err}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        sink.close()


def request(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP call; returns (status, headers, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return err.code, dict(err.headers), parsed


PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class ScratchPostgres:
    """A throwaway PostgreSQL server that a test may stop, start and sabotage.

    It runs from a temporary data directory as the ``postgres`` OS user (``initdb``
    refuses root), listens on 127.0.0.1 only, trusts every local connection and has
    one application database, ``dbname``. The machine's main cluster is never touched.
    """

    def __init__(self, root: Path, port: int, dbname: str) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.dbname = dbname
        self.running = False

    def url(self, dbname: str | None = None) -> str:
        # sslmode in the URL: a PGSSLMODE meant for the suite's database is ignored.
        database = dbname or self.dbname
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603

    def init(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--no-locale", "--no-sync"),
        )

    def start(self) -> None:
        """Start the server on ``port``; return once it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start"
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, disconnect all)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """An administrator's connection, in autocommit mode."""
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def backends(self, spare: Collection[int] = ()) -> list[str | None]:
        """What each connection to the application database waits for (``Lock``...)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'"
                " AND pid <> ALL(%s)",
                [self.dbname, list(spare)],
            ).fetchall()
        return [wait for (wait,) in rows]

    def terminate_backends(self, spare: Collection[int] = ()) -> list[str | None]:
        """Kill every connection to the application database but ``spare`` pids.

        Returns what each killed backend was waiting for when it was killed (``Lock``,
        ``Client`` when idle, None when running). Each kill waits (up to 5 s) until
        the backend has exited, so a request that starts afterwards can only meet a
        dead connection, never a dying one.
        """
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT wait_event_type, pg_terminate_backend(pid, 5000)"
                " FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'"
                " AND pid <> ALL(%s)",
                [self.dbname, list(spare)],
            ).fetchall()
        return [wait for wait, killed in rows if killed]


@contextmanager
def scratch_postgres(dbname: str = "app") -> Iterator[ScratchPostgres]:
    """Initialise and start a scratch server; stop it and delete it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pgscratch-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    server = ScratchPostgres(root, free_port(), dbname)
    try:
        server.init()
        server.start()
        with server.connect() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def signed_in_server(directory: Path) -> Iterator[tuple[str, int, str]]:
    """A server on a fresh SQLite file in ``directory`` with one user signed in.

    Yields the host, the port and that user's access token.
    """
    env = server_env(DATABASE_URL=f"sqlite:///{directory / 'live.sqlite3'}")
    manage(env, "migrate", "--no-input")
    with gunicorn(env) as base:
        account = {"email": "live@example.com", "password": "Quite-long-pass-42"}
        code, _, body = request("POST", f"{base}/api/v1/auth/register/", account)
        assert code == 201, body
        code, _, body = request("POST", f"{base}/api/v1/auth/token/", account)
        assert code == 200, body
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port), body["access"]
