"""One structured log line per request, tied together by a request id.

``RequestLogMiddleware`` sits first in ``MIDDLEWARE``. It takes the caller's
``X-Request-ID`` when it is a plain token (a load balancer's or a client's id), makes
one otherwise, returns it in the ``X-Request-ID`` response header, and logs one line
when the response leaves: method, path (never the query string), status, duration,
the authenticated user's id and the response size. Every other log line written while
the request runs carries the same ``request_id`` (``RequestIdFilter``).

What is logged is chosen field by field: no headers, bodies or query strings, so
passwords, tokens and connection strings have no way in.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

logger = logging.getLogger("taskapi.request")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# LogRecord attributes that are not extra fields passed by the caller.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName"}
)


def _user_id(request: HttpRequest) -> str | None:
    """The authenticated user's id, without ever triggering a lookup here."""
    user: Any = request.__dict__.get("user")
    if type(user) is SimpleLazyObject:
        # Django's lazy session user: only read it if something already did.
        wrapped = user.__dict__.get("_wrapped", empty)
        user = None if wrapped is empty else wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        # A new id: 32 random hex digits, as uuid4().hex gave, without a UUID object.
        request_id = (
            incoming if _VALID_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        )
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            status = response.status_code
            level = logging.ERROR if status >= 500 else logging.INFO
            if logger.isEnabledFor(level):
                # logger.log(), less its search of the stack for the caller: the
                # record is given its place (this file, function and call).
                logger.handle(
                    logger.makeRecord(
                        logger.name,
                        level,
                        __file__,
                        sys._getframe().f_lineno,
                        "%s %s %s",
                        (request.method, request.path, status),
                        None,
                        "__call__",
                        {
                            "method": request.method,
                            "path": request.path,
                            "status": status,
                            "duration_ms": round(
                                (time.perf_counter() - started) * 1000, 2
                            ),
                            "user_id": _user_id(request),
                            "bytes": None
                            if response.streaming
                            else len(response.content),
                        },
                    )
                )
            return response
        finally:
            _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (or None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # orjson takes a fraction of json.dumps's time on the line every request
        # writes. A line it cannot write in ASCII alone (a path in another script)
        # or at all is json.dumps's, escapes included, as before.
        try:
            line = orjson.dumps(entry, default=str).decode()
        except TypeError:
            line = ""
        if line.isascii() and line:
            return line
        return json.dumps(entry, default=str)
