"""Database faults, end to end: a real gunicorn in front of a real PostgreSQL.

Each test runs the production settings under config/gunicorn.conf.py (2 workers x 2
threads, persistent health-checked connections) against a scratch PostgreSQL server
of this module's own (tests.support.live.scratch_postgres), so it can stop the
database or
kill its connections without disturbing anybody else's. Client threads create and
read tasks throughout.

The contract (issue #4): while the database is unreachable every API request gets
503 problem+json with Retry-After, never a 500, HTML or a hang beyond the connect
timeout; requests succeed again within 5 s of the database's return; a killed
connection fails at most the one request using it; an acknowledged write is never
lost and a failed one is never half-applied.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import (
    ScratchPostgres,
    gunicorn,
    manage,
    request,
    scratch_postgres,
)
from tests.support.live import server_env as base_server_env
from todos.models import PRIORITY_BY_NAME

pytestmark = [
    pytest.mark.postgres(reason="database faults are PostgreSQL server behaviour"),
    pytest.mark.faults,
]

WORKERS, THREADS = 2, 2
CLIENTS = 6
CONNECT_TIMEOUT = 2  # DATABASE_CONNECT_TIMEOUT; psycopg's minimum
# Longer than any answer may take, even one that waits out the connect timeout: a
# request still unanswered by then counts as hung.
CLIENT_TIMEOUT = CONNECT_TIMEOUT + 4
RECOVERY_LIMIT = 5.0  # seconds from the database's return to working requests
PROBLEM = "application/problem+json"
UNAVAILABLE_TYPE = "urn:taskapi:problem:database-unavailable"
PASSWORD = "Quite-long-pass-42"
PRIORITIES = list(PRIORITY_BY_NAME)


@pytest.fixture(scope="module")
def scratch() -> Iterator[ScratchPostgres]:
    with scratch_postgres() as server:
        manage(app_env(server.url()), "migrate", "--no-input")
        yield server


@pytest.fixture
def pg(scratch: ScratchPostgres) -> ScratchPostgres:
    """The scratch server, running (an earlier test may have left it stopped)."""
    if not scratch.running:
        scratch.start()
    return scratch


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[Path]:
    """gunicorn's stderr; its tail is printed, so a failing test shows it."""
    log = tmp_path / "gunicorn.log"
    yield log
    if log.exists():
        print(log.read_text(errors="replace")[-4000:])


def app_env(url: str) -> dict[str, str]:
    """The server's environment: the scratch database, direct, whatever CI set."""
    env = {
        k: v
        for k, v in base_server_env().items()
        if not k.startswith("PG") and k not in {"DATABASE_POOLER", "REDIS_URL"}
    }
    env.update(
        DATABASE_URL=url,
        # manage.py would migrate DIRECT_DATABASE_URL, the suite's database.
        DIRECT_DATABASE_URL="",
        DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        # No REDIS_URL: the throttle counters live in the database too, one more
        # query per request that the faults can hit.
        API_THROTTLE_USER="100000/min",
        API_THROTTLE_REGISTER_IP="1000/min",
        API_THROTTLE_LOGIN_IP="1000/min",
        GUNICORN_GRACEFUL_TIMEOUT="5",
    )
    return env


@contextmanager
def serving(pg: ScratchPostgres, log: Path) -> Iterator[str]:
    """gunicorn as `make serve` runs it, with the scratch database; its base URL."""
    with gunicorn(
        app_env(pg.url()), WORKERS, log, threads=THREADS, production_config=True
    ) as base:
        yield base


@dataclass
class Call:
    client: int
    op: str
    start: float
    end: float
    status: int | None  # None: no HTTP answer at all (timeout, reset)
    headers: dict[str, str]
    body: Any
    sent: Any = None  # what a create sent; what a read should get back

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __repr__(self) -> str:
        kind = self.headers.get("Content-Type")
        return f"<{self.op} {self.status} {kind} {str(self.body)[:160]!r}>"


def is_unavailable(status: int | None, headers: dict[str, str], body: Any) -> bool:
    """The one acceptable failure: 503 problem+json that says when to retry."""
    return (
        status == 503
        and headers.get("Content-Type") == PROBLEM
        and headers.get("Retry-After") == "5"
        and isinstance(body, dict)
        and body.get("status") == 503
        and body.get("type") == UNAVAILABLE_TYPE
    )


def assert_unready(answer: tuple[int, dict[str, str], Any]) -> None:
    code, headers, body = answer
    assert (code, headers["Content-Type"], headers["Retry-After"]) == (
        503,
        PROBLEM,
        "5",
    )
    assert body["status"] == 503


def get(url: str) -> tuple[int, dict[str, str], Any]:
    return request("GET", url, timeout=CLIENT_TIMEOUT)


def post(
    url: str, body: Any, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    return request("POST", url, body, token, timeout=CLIENT_TIMEOUT)


def unacceptable(calls: list[Call]) -> list[Call]:
    """Calls that neither succeeded nor failed the way the contract allows."""
    return [
        c for c in calls if not c.ok and not is_unavailable(c.status, c.headers, c.body)
    ]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting until {what}")
        time.sleep(0.05)


def sign_up(base: str) -> tuple[str, str]:
    """A new account: (email, access token)."""
    email = f"faults-{uuid.uuid4().hex[:12]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    code, _, body = request(
        "POST", f"{base}/api/v1/auth/register/", credentials, timeout=30
    )
    assert code == 201, body
    code, _, body = request("POST", f"{base}/api/v1/auth/token/", credentials)
    assert code == 200, body
    return email, body["access"]


class Traffic:
    """Client threads of one user, each creating a task, reading it, listing tasks.

    (One user for all: every login costs an Argon2 hash, half a second here.)
    """

    def __init__(self, base: str, clients: int = CLIENTS) -> None:
        self.base = base
        self.email, self.token = sign_up(base)
        self.clients = clients
        self.calls: list[Call] = []
        self.crashes: list[BaseException] = []
        self._steps = [0] * clients

    def _call(
        self, client: int, op: str, method: str, path: str, body: Any = None
    ) -> Call:
        start = time.monotonic()
        try:
            status, headers, parsed = request(
                method,
                self.base + path,
                body,
                token=self.token,
                timeout=CLIENT_TIMEOUT,
            )
        except (OSError, http.client.HTTPException) as exc:
            status, headers, parsed = None, {}, repr(exc)
        call = Call(client, op, start, time.monotonic(), status, headers, parsed, body)
        self.calls.append(call)
        return call

    def step(self, client: int) -> None:
        n = self._steps[client] = self._steps[client] + 1
        payload = {
            "title": f"client {client} task {n} {uuid.uuid4().hex[:8]}",
            "description": f"sent by client {client} in step {n}",
            "priority": PRIORITIES[n % len(PRIORITIES)],
        }
        created = self._call(client, "create", "POST", "/api/v1/tasks/", payload)
        if created.status == 201:
            read = self._call(
                client, "read", "GET", f"/api/v1/tasks/{created.body['id']}/"
            )
            read.sent = created.body
        self._call(client, "list", "GET", "/api/v1/tasks/?page_size=5")

    def _run(self, client: int, keep_going: Callable[[int], bool]) -> None:
        try:
            done = 0
            while keep_going(done):
                self.step(client)
                done += 1
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.crashes.append(exc)

    def _threads(self, keep_going: Callable[[int], bool]) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._run, args=(client, keep_going), daemon=True)
            for client in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _join(self, threads: list[threading.Thread]) -> None:
        for thread in threads:
            thread.join(timeout=4 * CLIENT_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a client thread is stuck"
        assert not self.crashes, self.crashes

    def burst(self, steps: int) -> list[Call]:
        """Every client runs ``steps`` steps; returns their calls once all are done."""
        mark = len(self.calls)
        self._join(self._threads(lambda done: done < steps))
        return self.calls[mark:]

    @contextmanager
    def flowing(self) -> Iterator[None]:
        """Clients send requests back to back until the block ends."""
        stop = threading.Event()
        threads = self._threads(lambda done: not stop.is_set())
        try:
            yield
        finally:
            stop.set()
            self._join(threads)

    def count(self, predicate: Callable[[Call], bool]) -> int:
        return sum(1 for call in list(self.calls) if predicate(call))

    def fewest(self, predicate: Callable[[Call], bool]) -> int:
        """How many calls matching ``predicate`` the client with fewest has made."""
        per_client = [0] * self.clients
        for call in list(self.calls):
            per_client[call.client] += predicate(call)
        return min(per_client)


def assert_writes_consistent(pg: ScratchPostgres, traffic: Traffic) -> None:
    """Acknowledged creates are stored as sent; failed ones entirely or not at all."""
    with pg.connect(pg.dbname) as conn:
        rows = conn.execute(
            "SELECT t.id::text, t.title, t.description, t.priority, t.status, u.email"
            " FROM todos_task t JOIN accounts_user u ON u.id = t.owner_id"
            " WHERE u.email = %s",
            [traffic.email],
        ).fetchall()
    stored: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        stored.setdefault(row[1], []).append(row)

    creates = [c for c in traffic.calls if c.op == "create"]
    sent_titles = {c.sent["title"] for c in creates}
    assert set(stored) <= sent_titles, "rows that no request asked for"
    for call in creates:
        expected = (
            call.sent["title"],
            call.sent["description"],
            PRIORITY_BY_NAME[call.sent["priority"]],
            "pending",
            traffic.email,
        )
        found = stored.get(call.sent["title"], [])
        if call.ok:
            assert [row[1:] for row in found] == [expected], call
            assert found[0][0] == call.body["id"], call
        else:
            # A commit whose answer was lost may have happened; a part of it may not.
            assert [row[1:] for row in found] in ([], [expected]), call

    for read in (c for c in traffic.calls if c.op == "read" and c.ok):
        assert read.body == read.sent, "a read disagrees with the create it follows"


@pytest.mark.parametrize("shutdown", ["fast", "immediate"], ids=["stop", "crash"])
def test_requests_get_503_while_the_database_restarts_then_succeed_again(
    pg: ScratchPostgres, server_log: Path, shutdown: str
) -> None:
    """``fast`` is a clean stop; ``immediate`` a crash, recovered from the WAL."""
    with serving(pg, server_log) as base:
        traffic = Traffic(base)
        with traffic.flowing():
            wait_until(
                lambda: traffic.fewest(lambda c: c.op == "create" and c.ok) >= 2,
                30,
                "every client has created tasks",
            )
            pg.stop(shutdown)
            stopped = time.monotonic()
            wait_until(
                lambda: traffic.fewest(lambda c: c.start > stopped and not c.ok) > 0,
                10,
                "every client has seen the outage",
            )
            starting = time.monotonic()
            pg.start()
            up = time.monotonic()
            wait_until(
                lambda: traffic.fewest(lambda c: c.start >= up and c.ok) >= 3,
                RECOVERY_LIMIT + 5,
                "every client succeeds again",
            )

    calls = traffic.calls
    assert unacceptable(calls) == []
    during = [c for c in calls if c.start > stopped and c.end < starting]
    assert during
    assert [c for c in during if c.ok] == [], "answered without a database?"

    first_success = [
        min(c.end for c in calls if c.client == client and c.start >= up and c.ok)
        for client in range(CLIENTS)
    ]
    recovered = max(first_success)
    assert recovered - up < RECOVERY_LIMIT
    assert [c for c in calls if c.start > recovered and not c.ok] == []

    assert_writes_consistent(pg, traffic)


def test_a_killed_database_connection_fails_at_most_the_request_using_it(
    pg: ScratchPostgres, server_log: Path
) -> None:
    with serving(pg, server_log) as base:
        traffic = Traffic(base)
        traffic.burst(2)

        # Killed between requests: the health check replaces the dead connection
        # before the next request uses it, so nobody notices.
        for _ in range(3):
            killed = pg.terminate_backends()
            assert killed, "the server holds no persistent connection"
            assert [c for c in traffic.burst(2) if not c.ok] == []

        # Killed mid-query: a lock on the task table holds the requests inside
        # PostgreSQL, then their connections (and any idle ones) are killed.
        mark = len(traffic.calls)
        with traffic.flowing(), pg.connect(pg.dbname) as locker:
            with locker.transaction():
                locker.execute("LOCK TABLE todos_task IN ACCESS EXCLUSIVE MODE")
                spare = [locker.info.backend_pid]
                waiting: list[int] = []

                def steadily_blocked() -> bool:
                    waiting.append(pg.backends(spare).count("Lock"))
                    return waiting[-1] > 0 and waiting[-4:] == [waiting[-1]] * 4

                wait_until(steadily_blocked, 10, "requests are waiting for the lock")
                killed = pg.terminate_backends(spare)
                kill_over = time.monotonic()
            released = time.monotonic()
            wait_until(
                lambda: (
                    traffic.count(lambda c: c.start > released and c.ok) >= 2 * CLIENTS
                ),
                10,
                "requests succeed after the kill",
            )
        phase = traffic.calls[mark:]
        failed = [c for c in phase if not c.ok]
        assert killed.count("Lock") >= 1
        assert unacceptable(phase) == []
        assert len(failed) <= len(killed)
        assert all(c.start < kill_over for c in failed)

        # Killed at random moments while requests flow.
        mark = len(traffic.calls)
        windows: list[tuple[float, float]] = []
        killed = []
        with traffic.flowing():
            for _ in range(3):
                time.sleep(0.3)
                began = time.monotonic()
                killed += pg.terminate_backends()
                windows.append((began, time.monotonic()))
            time.sleep(0.3)
        phase = traffic.calls[mark:]
        failed = [c for c in phase if not c.ok]
        assert unacceptable(phase) == []
        assert len(failed) <= len(killed)
        for call in failed:
            assert any(call.start < end and call.end > began for began, end in windows)

    assert_writes_consistent(pg, traffic)


def test_the_server_starts_without_its_database_and_is_ready_once_it_appears(
    scratch: ScratchPostgres, server_log: Path
) -> None:
    if scratch.running:
        scratch.stop()
    # First a database that takes the connection and never answers (a stuck
    # pooler, a compute that does not wake), then nothing at all on that port, then
    # the database itself.
    silent = socket.create_server(("127.0.0.1", 0))
    scratch.port = silent.getsockname()[1]
    credentials = {
        "email": f"late-{uuid.uuid4().hex[:12]}@example.com",
        "password": PASSWORD,
    }
    with serving(scratch, server_log) as base:
        with silent, ThreadPoolExecutor(2) as pool:
            assert get(f"{base}/healthz")[::2] == (200, {"status": "ok"})
            # Side by side: each waits out the connect timeout.
            ready = pool.submit(get, f"{base}/readyz")
            answer = post(f"{base}/api/v1/auth/register/", credentials)
            assert is_unavailable(*answer), answer
            assert_unready(ready.result())

        assert get(f"{base}/healthz")[::2] == (200, {"status": "ok"})
        assert_unready(get(f"{base}/readyz"))
        for path in ("register", "token"):
            answer = post(f"{base}/api/v1/auth/{path}/", credentials)
            assert is_unavailable(*answer), answer

        scratch.start()
        assert get(f"{base}/readyz")[::2] == (200, {"status": "ready"})
        # The refused registration left nothing behind: the email is still free.
        code, _, body = post(f"{base}/api/v1/auth/register/", credentials)
        assert code == 201, body
        code, _, body = post(f"{base}/api/v1/auth/token/", credentials)
        assert code == 200, body
        task = {"title": "after the outage"}
        code, _, body = post(f"{base}/api/v1/tasks/", task, body["access"])
        assert code == 201, body
