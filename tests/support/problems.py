"""One assertion for every problem+json answer of the API."""

from __future__ import annotations

import json
from typing import Any

PROBLEM = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:taskapi:problem:"


def assert_problem(
    response: Any, status: int, code: str | None = None
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem of ``status`` (and type ``code``); its body.

    Works for Django's test responses. ``code`` is the problem type's last part,
    e.g. ``validation-error``.
    """
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_TYPE_BASE)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if code is not None:
        assert body["type"] == PROBLEM_TYPE_BASE + code
    return body
