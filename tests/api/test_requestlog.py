"""One structured log line per request, with a request id; no secrets in logs."""

from __future__ import annotations

import inspect
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from api.requestlog import JsonFormatter, RequestIdFilter, RequestLogMiddleware
from tests.support.live import gunicorn, manage, request, server_env

REQUEST_LOGGER = "taskapi.request"


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REQUEST_LOGGER]


def test_each_request_logs_one_line_with_its_id(auth_client, user, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    response = auth_client.get("/api/v1/tasks/?status=pending")

    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [line] = _request_lines(caplog)
    assert line.request_id == request_id  # type: ignore[attr-defined]
    assert line.method == "GET"  # type: ignore[attr-defined]
    assert line.path == "/api/v1/tasks/"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.user_id == str(user.pk)  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]
    assert line.levelno == logging.INFO


def test_the_line_is_logged_from_the_middleware_as_logger_log_would_place_it(
    auth_client, caplog
):
    """The record names the middleware's own file, function and line (given, not
    looked up), and the message and level ``logger.log`` would give it."""
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    auth_client.get("/api/v1/tasks/")
    [line] = _request_lines(caplog)
    source, first = inspect.getsourcelines(RequestLogMiddleware.__call__)
    assert Path(line.pathname) == Path(str(inspect.getsourcefile(RequestLogMiddleware)))
    assert line.funcName == "__call__"
    assert first <= line.lineno < first + len(source)
    assert line.getMessage() == "GET /api/v1/tasks/ 200"
    assert line.levelname == "INFO"


def test_no_line_when_the_logger_is_off(auth_client, caplog):
    caplog.set_level(logging.ERROR, logger=REQUEST_LOGGER)
    assert auth_client.get("/api/v1/tasks/").status_code == 200
    assert _request_lines(caplog) == []


def test_every_request_gets_a_fresh_id(api_client, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    ids = {api_client.get("/healthz")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
    assert len(_request_lines(caplog)) == 3
    assert all(r.user_id is None for r in _request_lines(caplog))  # type: ignore[attr-defined]


def test_a_well_formed_incoming_request_id_is_kept(api_client):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.2026:11")
    assert response["X-Request-ID"] == "lb-7f3a.2026:11"


@pytest.mark.parametrize(
    "incoming", ["has space", "line\nbreak", "x" * 200, '"quoted"', "-leading-dash"]
)
def test_a_malformed_incoming_request_id_is_replaced(api_client, incoming):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_rejected_requests_are_logged_too(api_client, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    response = api_client.post(
        "/api/v1/tasks/", data="{}", content_type="application/json"
    )
    assert response.status_code == 401
    [line] = _request_lines(caplog)
    assert line.status == 401  # type: ignore[attr-defined]
    assert line.request_id == response["X-Request-ID"]  # type: ignore[attr-defined]


def test_the_json_formatter_writes_one_object_with_the_extras():
    record = logging.LogRecord(
        "taskapi.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.status = 200
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /x"
    assert entry["status"] == 200
    assert entry["level"] == "INFO"
    assert "request_id" in entry
    assert "args" not in entry
    assert "msg" not in entry


def _line(message: str, *args: Any, **extras: Any) -> str:
    record = logging.LogRecord(
        "taskapi.request", logging.INFO, __file__, 1, message, args, None
    )
    for name, value in extras.items():
        setattr(record, name, value)
    RequestIdFilter().filter(record)
    return JsonFormatter().format(record)


@pytest.mark.parametrize(
    "extras",
    [
        {"path": "/api/v1/t\u00e2ches/\u2028", "user_id": None},
        {"bytes": 2**70},
        {"when": Path("/not/json/at/all")},
        {"nested": {1: "an integer key"}},
    ],
    ids=["non-ascii", "beyond-64-bits", "str-of-anything-else", "integer-key"],
)
def test_every_line_is_ascii_json_that_means_what_json_dumps_meant(extras):
    line = _line("GET %s", "/x", **extras)
    assert line.isascii()
    assert "\n" not in line
    entry = json.loads(line)
    expected = json.loads(json.dumps(extras, default=str))
    assert {key: entry[key] for key in extras} == expected


# --- Against a real server: what reaches the log stream ------------------------------

PASSWORD = "Corr3ct-Horse-Battery-Staple"
NEW_PASSWORD = "An0ther-Long-Passphrase-99"
DB_PASSWORD = "db-Pa55word-never-logged"


def _log_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            entries.append(json.loads(raw))
    return entries


def test_a_real_server_logs_every_request_once_and_never_a_secret(tmp_path):
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}",
        DJANGO_LOG_LEVEL="INFO",
        DJANGO_LOG_FORMAT="json",
    )
    manage(env, "migrate", "--no-input")
    log = tmp_path / "server.log"
    sent: list[tuple[int, str]] = []  # (status, request id) of every call
    bodies: list[Any] = []

    def call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
        code, headers, parsed = request(method, url, body, token=token)
        sent.append((code, headers["X-Request-ID"]))
        bodies.append(parsed)
        return code, parsed

    with gunicorn(env, log=log) as base:
        api = f"{base}/api/v1"
        email = "logger@example.com"
        assert (
            call(
                "POST", f"{api}/auth/register/", {"email": email, "password": PASSWORD}
            )[0]
            == 201
        )
        code, tokens = call(
            "POST", f"{api}/auth/token/", {"email": email, "password": PASSWORD}
        )
        assert code == 200
        access, refresh = tokens["access"], tokens["refresh"]
        assert (
            call(
                "POST",
                f"{api}/auth/token/",
                {"email": email, "password": "wrong-" + PASSWORD},
            )[0]
            == 401
        )
        assert (
            call("POST", f"{api}/tasks/", {"title": "log me"}, token=access)[0] == 201
        )
        assert call("GET", f"{api}/tasks/", token=access)[0] == 200
        assert call("GET", f"{api}/tasks/", token=access + "tampered")[0] == 401
        code, refreshed = call(
            "POST", f"{api}/auth/token/refresh/", {"refresh": refresh}
        )
        assert code == 200
        assert (
            call("POST", f"{api}/auth/token/refresh/", {"refresh": refresh})[0] == 401
        )
        code, _ = call(
            "POST",
            f"{api}/auth/password/",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            token=refreshed["access"],
        )
        assert code in (200, 204)
        assert call("GET", f"{api}/nowhere/", token=access)[0] in (401, 404)

    text = log.read_text()
    request_lines = [e for e in _log_entries(log) if e["logger"] == REQUEST_LOGGER]
    assert [(e["status"], e["request_id"]) for e in request_lines] == sent
    assert all(isinstance(e["duration_ms"], float | int) for e in request_lines)

    secrets = [PASSWORD, NEW_PASSWORD, access, refresh, refreshed["access"]]
    secrets += [refreshed["refresh"], env["DJANGO_SECRET_KEY"], env["JWT_SIGNING_KEY"]]
    for secret in secrets:
        assert secret not in text
    # Error responses never echo what the caller sent as a secret either.
    error_bodies = json.dumps(
        [b for (code, _), b in zip(sent, bodies, strict=True) if code >= 400]
    )
    for secret in secrets:
        assert secret not in error_bodies


def test_a_database_outage_logs_no_connection_string(tmp_path):
    env = server_env(
        DATABASE_URL=f"postgres://app:{DB_PASSWORD}@127.0.0.1:9/taskapi",
        DATABASE_CONNECT_TIMEOUT="2",
        DJANGO_LOG_LEVEL="INFO",
        DJANGO_LOG_FORMAT="json",
    )
    log = tmp_path / "server.log"
    with gunicorn(env, log=log) as base:
        code, headers, body = request("GET", f"{base}/readyz")
        assert code == 503
        code, headers, body = request("GET", f"{base}/api/v1/tasks/", token="x.y.z")
        assert code in (401, 503)
        code, headers, body = request(
            "POST",
            f"{base}/api/v1/auth/token/",
            {"email": "a@example.com", "password": PASSWORD},
        )
        assert code == 503, body
        assert headers["Content-Type"] == "application/problem+json"
        assert DB_PASSWORD not in json.dumps(body)

    text = log.read_text()
    assert any(e.get("status") == 503 for e in _log_entries(log))
    assert DB_PASSWORD not in text
    assert PASSWORD not in text
