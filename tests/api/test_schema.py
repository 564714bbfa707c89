"""The OpenAPI schema is valid, complete, and real responses conform to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.conf import settings as django_settings
from django.contrib.auth import password_validation
from django.urls import NoReverseMatch, reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from api.schema import (
    DATE_TIME_RANGE,
    NOT_BLANK_TEXT_PATTERN,
    not_numeric_text_pattern,
)
from tests.factories import TaskFactory
from tests.support.routes import ROUTES
from todos.filters import SEARCH_MAX_LENGTH
from todos.models import Label, TaskList
from todos.pagination import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    ORDERINGS,
    TaskCursorPagination,
)

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
    try:
        return reverse(url_name)
    except NoReverseMatch:
        url = reverse(url_name, args=["00000000-0000-0000-0000-000000000000"])
        return url.replace("00000000-0000-0000-0000-000000000000", "{id}")


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
        assert {"400", "411", "413", "415"} <= codes
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


# --- every rule the server applies is in the schema ---------------------------------


def _component(schema, name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


def _request_bodies(schema) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, resolved JSON schema) of every request body."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                ref = media["schema"]["$ref"].rsplit("/", 1)[1]
                yield method.upper(), path, _component(schema, ref)


NEW_PASSWORDS = [
    ("RegisterRequest", "password"),
    ("PasswordChangeRequest", "new_password"),
]


@pytest.mark.parametrize(("component", "name"), NEW_PASSWORDS)
def test_a_new_password_states_the_password_policy(schema, component, name):
    prop = _component(schema, component)["properties"][name]
    (minimum,) = [
        v.min_length
        for v in password_validation.get_default_password_validators()
        if isinstance(v, password_validation.MinimumLengthValidator)
    ]
    assert prop["minLength"] == minimum == 8
    pattern = re.compile(prop["pattern"])
    for numeric in ["12345678", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"]:
        assert not pattern.search(numeric)
    for other in ["1234567a", "1234 5678", "\u00b2\u00b3\u00b9x0000"]:
        assert pattern.search(other)
    assert not pattern.search("abcd\x00efgh")
    for rule in password_validation.password_validators_help_texts():
        assert str(rule) in prop["description"]


@pytest.mark.parametrize(
    "character", [c for c in map(chr, range(0x110000)) if c.isdigit()][::7]
)
def test_the_numeric_rule_knows_every_digit_python_knows(character):
    assert not re.search(not_numeric_text_pattern(), character * 8)
    assert re.search(not_numeric_text_pattern(), character * 7 + "x")


def test_the_password_rules_follow_the_settings(settings):
    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 12},
        }
    ]
    generated = SchemaGenerator().get_schema(request=None, public=True)
    prop = generated["components"]["schemas"]["RegisterRequest"]["properties"]
    assert prop["password"]["minLength"] == 12
    assert re.search(prop["password"]["pattern"], "123456789012")


@pytest.mark.parametrize(
    ("component", "name"),
    [
        ("PasswordChangeRequest", "current_password"),
        ("AccountDeleteRequest", "password"),
        ("TokenObtainRequest", "password"),
    ],
)
def test_a_password_being_checked_is_not_held_to_the_policy(schema, component, name):
    # An account whose password predates a stricter policy can still sign in.
    assert _component(schema, component)["properties"][name]["minLength"] == 1


def test_every_request_body_refuses_unknown_keys_and_numbers_for_text(schema):
    bodies = list(_request_bodies(schema))
    assert len(bodies) >= 8
    for method, path, body in bodies:
        assert body["type"] == "object", (method, path)
        assert body["additionalProperties"] is False, (method, path)
        for name, prop in body["properties"].items():
            if prop.get("readOnly"):
                continue
            for branch in [prop, *prop.get("oneOf", [])]:
                types = branch.get("type", ())
                if "string" in types and "format" not in branch:
                    # Text is a JSON string, never a number; NUL is refused.
                    assert not {"number", "integer"} & set(types), (path, name)
                    assert "pattern" in branch or branch.get("maxLength") == 0


def _list_parameters(schema) -> dict[str, dict[str, Any]]:
    operation = _operation(schema, "/api/v1/tasks/", "GET")
    return {p["name"]: p["schema"] for p in operation["parameters"]}


def test_every_list_parameter_states_what_it_accepts(schema):
    params = _list_parameters(schema)
    assert params.pop("page_size") == {
        "type": "integer",
        "minimum": 1,
        "maximum": TaskCursorPagination.max_page_size,
        "default": TaskCursorPagination.page_size,
    }
    assert params.pop("cursor") == {
        "type": "string",
        "pattern": CURSOR_PATTERN,
        "maxLength": CURSOR_MAX_LENGTH,
    }
    assert params.pop("ordering")["enum"] == sorted(ORDERINGS)
    assert params.pop("search") == {
        "type": "string",
        "maxLength": SEARCH_MAX_LENGTH,
        "pattern": NOT_BLANK_TEXT_PATTERN,
    }
    assert {params.pop(name)["type"] for name in ("overdue", "has_due")} == {"boolean"}
    assert {params.pop(name)["pattern"] for name in ("status", "priority")}
    # Ids of the requester's lists and labels ("inbox" for no list), as patterns.
    assert all(params.pop(name)["pattern"] for name in ("list", "label", "label_all"))
    for name, param in params.items():
        assert param == {"type": "string", "format": "date-time"}, name
    assert set(params) == {
        "due_before",
        "due_after",
        "created_after",
        "created_before",
        "updated_after",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "pending"),
        ("status", "pending,completed"),
        ("status", " in_progress , completed "),
        ("status", ",pending,,"),
        ("status", "pending,nope"),
        ("status", "Pending"),
        ("status", ", ,"),
        ("status", "pending\x00"),
        ("priority", "urgent,low"),
        ("priority", "urgent;low"),
        ("priority", "normal\u00a0"),
        ("priority", "40"),
        ("status", " " * 60 + "pending"),
        ("priority", "low" + ", low" * 12),
    ],
)
def test_a_choice_filter_accepts_exactly_what_its_pattern_does(
    schema, auth_client, name, value
):
    param = _list_parameters(schema)[name]
    response = auth_client.get("/api/v1/tasks/", {name: value})
    accepted = response.status_code == 200
    assert accepted == bool(re.search(param["pattern"], value)), response.content
    if not accepted:
        assert response.status_code == 400


PER_ITEM_PRECONDITIONS = {("post", "/api/v1/tasks/bulk/")}


def test_conditional_headers_come_with_their_answers(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            headers = {
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "header"
            }
            codes = set(operation["responses"])
            # Bulk operations carry their own if_match, in the body.
            per_item = (method, path) in PER_ITEM_PRECONDITIONS
            assert ("If-Match" in headers or per_item) == ("412" in codes), (
                method,
                path,
            )
            assert ("If-None-Match" in headers) == ("304" in codes), (method, path)
            if headers & {"If-Match", "If-None-Match"}:
                for code in codes & {"200", "201", "304"}:
                    etag = operation["responses"][code]["headers"]["ETag"]
                    assert etag["required"] is True


def _calls(schema, ids: dict[str, str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every operation, ``{id}`` replaced by the id of its collection's object."""
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/schema"):
            continue
        collection = path.removeprefix("/api/v1/").split("/")[0]
        for method, operation in operations.items():
            object_id = ids.get(collection, ids["tasks"])
            yield method.upper(), path.replace("{id}", object_id), operation


def test_a_route_honours_exactly_the_preconditions_it_declares(
    schema, auth_client, user
):
    """A stale If-Match is a 412 where declared, and ignored everywhere else."""
    ids = {
        "tasks": str(TaskFactory.create(owner=user).pk),
        "lists": str(TaskList.objects.create(owner=user, name="l", position=1).pk),
        "labels": str(Label.objects.create(owner=user, name="l").pk),
    }
    for method, url, operation in _calls(schema, ids):
        declared = {p["name"] for p in operation.get("parameters", [])}
        if method != "GET":
            response = auth_client.generic(
                method, url, "{}", "application/json", HTTP_IF_MATCH='"stale"'
            )
            assert (response.status_code == 412) == ("If-Match" in declared), (
                method,
                url,
                response.status_code,
            )
        else:
            response = auth_client.get(url, HTTP_IF_NONE_MATCH="*")
            assert (response.status_code == 304) == ("If-None-Match" in declared), (
                method,
                url,
                response.status_code,
            )


def test_the_body_limit_is_documented_as_configured(schema):
    limit = str(django_settings.API_MAX_BODY_BYTES)
    described = {
        operation["responses"]["413"]["description"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if "413" in operation["responses"]
    }
    assert described
    assert all(limit in text for text in described)


def test_every_date_time_input_says_what_its_format_cannot(schema):
    inputs = [
        prop
        for _, _, body in _request_bodies(schema)
        for prop in body["properties"].values()
        if prop.get("format") == "date-time" and not prop.get("readOnly")
    ]
    inputs += [
        param
        for operations in schema["paths"].values()
        for operation in operations.values()
        for param in operation.get("parameters", [])
        if param["schema"].get("format") == "date-time"
    ]
    assert len(inputs) >= 7
    for described in inputs:
        assert DATE_TIME_RANGE in described["description"]
