"""The OpenAPI schema is valid, complete, and real responses conform to it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.urls import reverse
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.factories import TaskFactory
from tests.support.routes import ROUTES

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get(reverse("schema"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.1")
    validate_schema(schema)


def _operation(schema, path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method.lower()]


def _path_of(url_name: str) -> str:
    if url_name.startswith("todos:") and not url_name.endswith("-list"):
        url = reverse(url_name, args=["00000000-0000-0000-0000-000000000000"])
        return url.replace("00000000-0000-0000-0000-000000000000", "{id}")
    return reverse(url_name)


# The documentation endpoints and the root that links to them are not part of the
# API they document; the Better Auth compatibility routes are a fixed contract of
# other people's front ends, documented in docs/better-auth.md rather than in the
# schema of /api/v1/.
UNDOCUMENTED = {"api-root", "schema", "docs", "redoc"}
DOCUMENTED = [
    pytest.param(key, row, id=f"{key[1]} {key[0]}")
    for key, row in ROUTES.items()
    if key[0] not in UNDOCUMENTED and row.auth == "api"
]


def test_the_compat_routes_stay_out_of_the_schema(schema):
    assert [path for path in schema["paths"] if not path.startswith("/api/v1/")] == []


@pytest.mark.parametrize(("key", "row"), DOCUMENTED)
def test_every_route_is_documented_with_its_problems(schema, key, row):
    name, method = key
    operation = _operation(schema, _path_of(name), method)
    codes = set(operation["responses"])
    assert str(row.ok) in codes
    assert "429" in codes
    if row.kind != "public":
        assert "401" in codes
        assert operation.get("security")
    if row.kind == "owned":
        assert "404" in codes
    if method in {"POST", "PUT", "PATCH"}:
        assert {"400", "413", "415"} <= codes
    for code in codes - {str(row.ok), "304"}:
        if code.startswith(("4", "5")):
            assert "application/problem+json" in operation["responses"][code]["content"]


def test_list_parameters_are_documented(schema):
    params = {
        p["name"] for p in _operation(schema, "/api/v1/tasks/", "GET")["parameters"]
    }
    assert params >= {
        "status",
        "priority",
        "due_before",
        "due_after",
        "overdue",
        "has_due",
        "created_after",
        "created_before",
        "updated_after",
        "search",
        "ordering",
        "cursor",
        "page_size",
    }


def _validator(
    schema: dict[str, Any], ref_schema: dict[str, Any]
) -> Draft202012Validator:
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:api", resource)
    wrapped = (
        {"$ref": "urn:api#" + ref_schema["$ref"][1:]}
        if "$ref" in ref_schema
        else ref_schema
    )
    return Draft202012Validator(wrapped, registry=registry)


def _check(schema, path: str, method: str, response) -> None:
    responses = _operation(schema, path, method)["responses"]
    documented = responses[str(response.status_code)]
    content_type = response["Content-Type"].split(";")[0]
    body_schema = documented["content"][content_type]["schema"]
    errors = list(_validator(schema, body_schema).iter_errors(response.json()))
    assert not errors, [e.message for e in errors]


def test_real_responses_conform_to_the_schema(schema, auth_client, user):
    TaskFactory.create_batch(3, owner=user)
    created = auth_client.post("/api/v1/tasks/", {"title": "x", "due_at": None})
    _check(schema, "/api/v1/tasks/", "POST", created)
    _check(
        schema, "/api/v1/tasks/", "GET", auth_client.get("/api/v1/tasks/?page_size=2")
    )
    detail = "/api/v1/tasks/{id}/"
    url = f"/api/v1/tasks/{created.json()['id']}/"
    _check(schema, detail, "GET", auth_client.get(url))
    _check(schema, detail, "PATCH", auth_client.patch(url, {"priority": "high"}))
    _check(schema, detail, "PATCH", auth_client.patch(url, {"priority": "nope"}))
    _check(
        schema,
        detail,
        "PATCH",
        auth_client.patch(url, {"title": "y"}, HTTP_IF_MATCH='"0"'),
    )
    _check(
        schema,
        detail,
        "GET",
        auth_client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000/"),
    )
    _check(
        schema, "/api/v1/tasks/", "GET", auth_client.get("/api/v1/tasks/?status=zzz")
    )
    _check(schema, "/api/v1/auth/me/", "GET", auth_client.get("/api/v1/auth/me/"))
    auth_client.credentials()
    _check(schema, "/api/v1/tasks/", "GET", auth_client.get("/api/v1/tasks/"))


def test_the_yaml_schema_parses(client):
    response = client.get(reverse("schema"))
    assert yaml.safe_load(response.content)["info"]["title"] == "Task API"
