"""The real Better Auth server (interop/better-auth, Node) for end-to-end tests.

``.ci/ensure-node-deps.sh`` installs its pinned packages; without them the tests that
need it fail with :func:`missing`'s message (they do not skip).
"""

from __future__ import annotations

import http.cookiejar
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.support.live import ROOT, free_port, gunicorn, manage, server_env

PROJECT = ROOT / "interop" / "better-auth"
PASSWORD = "a-long-password-1"


def missing() -> str | None:
    """Why the Better Auth server cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: Node.js 20+ runs the Better Auth server"
    if not (PROJECT / "node_modules" / "better-auth").is_dir():
        return (
            "interop/better-auth/node_modules is missing: run .ci/ensure-node-deps.sh "
            "(npm ci of the pinned Better Auth project)"
        )
    return None


@dataclass
class Session:
    """A signed-up Better Auth user and its session cookie."""

    server: BetterAuthServer
    user_id: str
    email: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def token(self) -> str:
        """A fresh JWT from GET /api/auth/token, as ``authClient.token()`` gets it."""
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar)
        )
        with opener.open(f"{self.server.url}/api/auth/token", timeout=10) as response:
            return str(json.loads(response.read())["token"])


@dataclass
class BetterAuthServer:
    url: str
    secret: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/api/auth/jwks"

    def sign_up(self, name: str = "Ada") -> Session:
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        request = urllib.request.Request(  # noqa: S310 (our own local server)
            f"{self.url}/api/auth/sign-up/email",
            data=json.dumps(
                {"email": email, "password": PASSWORD, "name": name}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with opener.open(request, timeout=10) as response:
            user = json.loads(response.read())["user"]
        return Session(server=self, user_id=user["id"], email=email, jar=jar)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def better_auth_server(
    *,
    mode: str = "jwks",
    rotation_seconds: int = 0,
    trusted_origins: str = "",
    port: int | None = None,
    database: Path | None = None,
) -> Iterator[BetterAuthServer]:
    """Start ``node server.mjs`` on a free port, wait until it answers, stop it after.

    ``port`` and ``database`` let a test restart "the same" server.
    """
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "PATH": _path(),
            "PORT": str(port),
            "BETTER_AUTH_URL": url,
            "BETTER_AUTH_SECRET": SECRET,
            "DATABASE_PATH": str(database or Path(scratch) / "auth.sqlite"),
            "TOKEN_MODE": mode,
            "TRUSTED_ORIGINS": trusted_origins,
        }
        if rotation_seconds:
            env["ROTATION_SECONDS"] = str(rotation_seconds)
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            ["node", "server.mjs"],  # noqa: S607
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = BetterAuthServer(url=url, secret=SECRET, process=process, log=log)
        try:
            _wait_until_up(server)
            yield server
        finally:
            server.stop()
            log.close()


# The Better Auth secret of the test servers (never our JWT_SIGNING_KEY).
SECRET = "interop-better-auth-secret-" + "b" * 24


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")


def _wait_until_up(server: BetterAuthServer) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):  # noqa: S310
                return
        except (urllib.error.URLError, OSError):
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Better Auth server did not start:\n{server.output()}"
                ) from None
            time.sleep(0.2)


def api_env(server: BetterAuthServer, **overrides: Any) -> dict[str, str]:
    """Environment of our API server for tokens of ``server`` (JWKS mode)."""
    values = {
        "BETTER_AUTH_ENABLED": "true",
        "BETTER_AUTH_URL": server.url,
        "BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS": "1",
        "BETTER_AUTH_JWKS_TIMEOUT_SECONDS": "2",
    }
    values.update({k: str(v) for k, v in overrides.items()})
    return values


@contextmanager
def api_server(directory: Path, **env: Any) -> Iterator[str]:
    """Our API under gunicorn on a fresh SQLite file; its cache a table there (cold,
    shared with no other server)."""
    values = server_env(
        DATABASE_URL=f"sqlite:///{directory / 'api.sqlite3'}", REDIS_URL="", **env
    )
    manage(values, "migrate", "--no-input")
    with gunicorn(values, threads=4) as base:
        yield base
