"""Every API error as ``application/problem+json`` (RFC 9457).

A problem has ``type``, ``title``, ``status`` and ``detail``; validation problems add
``errors``, a list of ``{"field", "pointer", "message", "code"}``. The DRF exception
handler, the 404/500 handlers and the middleware all build their bodies here, so every
error under ``/api/`` has the same shape.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are URNs: stable identifiers that do not pretend to be web pages.
PROBLEM_TYPE_BASE = "urn:taskapi:problem:"
API_PREFIX = "/api/"


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; retry shortly."
    default_code = "database_unavailable"
    wait = 5


class ThrottleUnavailable(exceptions.APIException):
    """Redis, which holds the throttles' counters, cannot be reached or did not
    answer in time: the request was neither counted nor served."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The rate limiter is unavailable; retry shortly."
    default_code = "throttle_unavailable"
    wait = 5


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def problem(
    status_code: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The body of a problem response."""
    phrase = HTTPStatus(status_code).phrase
    slug = code or phrase.lower().replace(" ", "_").replace("-", "_")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug.replace("_", "-"),
        "title": phrase,
        "status": status_code,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _pointer(path: list[str]) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def flatten_errors(detail: Any, path: list[str] | None = None) -> list[dict[str, str]]:
    """Turn DRF's nested error detail into a flat list, one entry per message."""
    path = path or []
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            sub = path if key == "non_field_errors" else [*path, str(key)]
            out.extend(flatten_errors(value, sub))
        return out
    if isinstance(detail, list):
        if detail and all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            return [e for item in detail for e in flatten_errors(item, path)]
        out = []
        for index, item in enumerate(detail):
            out.extend(flatten_errors(item, [*path, str(index)]))
        return out
    entry = {
        "field": ".".join(path) if path else "non_field_errors",
        "pointer": _pointer(path) if path else "",
        "message": str(detail),
        "code": getattr(detail, "code", None) or "invalid",
    }
    return [entry]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the body rewritten as a problem document."""
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (cold start, failover, network): the request
        # was not applied, and the client may retry. Django drops the broken
        # connection at the end of the request, so the next one reconnects.
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = DatabaseUnavailable()
    elif isinstance(exc, RedisConnectionError | RedisTimeoutError):
        # The cache (Redis) holds the throttles' counters only; the sign-up and
        # token endpoints' throttles reach it through Django's cache.
        logger.warning("throttle cache unavailable: %s", type(exc).__name__)
        exc = ThrottleUnavailable()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        body = problem(
            response.status_code,
            "The request is invalid; see errors for each field.",
            code="validation_error",
            errors=errors,
        )
    else:
        detail = exc.detail
        if isinstance(detail, dict) and "detail" in detail:
            # simplejwt's shape, {"detail", "code", "messages": [one per token type]}:
            # the per-type messages are its internals, nothing a client can act on.
            code = detail.get("code") or exc.default_code
            body = problem(response.status_code, str(detail["detail"]), code=str(code))
        elif isinstance(detail, dict | list):
            body = problem(
                response.status_code,
                str(exc.default_detail),
                errors=flatten_errors(detail),
            )
        else:
            code = getattr(detail, "code", None) or exc.default_code
            body = problem(response.status_code, str(detail), code=str(code))
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(
    status_code: int, detail: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    """A problem response outside DRF (middleware, URL resolver, crashes)."""
    response = JsonResponse(
        problem(status_code, detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)
