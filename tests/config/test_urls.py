"""config/urls.py: the hot paths are the first patterns Django tries."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import ResolverMatch, URLResolver, resolve

TASK = uuid.UUID(int=1)
USER = uuid.UUID(int=2)


def _tried(match: ResolverMatch) -> list[list[Any]]:
    """Every route Django tried for ``match``'s path, the match last, each as its
    patterns from the outermost in."""
    assert match.tried is not None
    return match.tried


def test_the_task_list_is_the_first_route_tried():
    match = resolve("/api/v1/tasks/")
    assert match.view_name == "todos:task-list"
    # Nothing before it: every pattern tried first costs each request, and an
    # include that does not match raises and catches Resolver404 on the way.
    assert len(_tried(match)) == 1


def test_a_task_is_reached_through_the_task_routes_alone():
    match = resolve(f"/api/v1/tasks/{TASK}/")
    assert match.view_name == "todos:task-detail"
    tried = _tried(match)
    assert {str(route[0].pattern) for route in tried} == {"api/v1/"}
    # Only the task router's own routes come before it, one include deep: each
    # route tried is the router's include and one of its patterns.
    assert all(route[0].app_name == "todos" for route in tried)
    assert {len(route) for route in tried} == {2}


def test_the_better_auth_routes_come_right_after_the_v1_api():
    match = resolve(f"/api/{USER}/tasks")
    assert match.view_name == "compat:tasks"
    tried = _tried(match)
    assert [str(route[0].pattern) for route in tried] == ["api/v1/", "api/v1/", ""]
    assert isinstance(tried[-1][0], URLResolver)
    assert tried[-1][0].app_name == "compat"


def test_the_other_routes_still_resolve_as_named():
    for path, name in [
        ("/", "root"),
        ("/healthz", "healthz"),
        ("/readyz", "readyz"),
        ("/api/v1/", "api-root"),
        ("/api/v1/auth/token/", "accounts:token"),
        ("/api/v1/schema/", "schema"),
        ("/api/v1/lists/", "todos:list-list"),
        ("/admin/", "admin:index"),
    ]:
        assert resolve(path).view_name == name, path
