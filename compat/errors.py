"""Errors as these front ends display them: a string ``detail`` and ``message``.

The body is this API's problem document with two additions: ``message`` (the same
string as ``detail``; some clients read one, some the other) and, for validation,
``errors`` as a ``{field: message}`` object. Served as ``application/json``: some
clients only parse a body whose type says exactly that.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response

from api.problems import api_exception_handler

CONTENT_TYPE = "application/json"


def compat_exception_handler(
    exc: Exception, context: dict[str, Any]
) -> Response | None:
    response = api_exception_handler(exc, context)
    if response is None or not isinstance(response.data, dict):
        return response
    body = dict(response.data)
    errors = body.get("errors")
    if isinstance(errors, list):
        by_field: dict[str, str] = {}
        for entry in errors:
            by_field.setdefault(entry["field"], entry["message"])
        body["errors"] = by_field
        body["detail"] = "; ".join(f"{k}: {v}" for k, v in by_field.items())[:500]
    body["message"] = body["detail"]
    response.data = body
    response.content_type = CONTENT_TYPE
    return response
