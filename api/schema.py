"""OpenAPI generation: every operation documents the problems it can answer with."""

from __future__ import annotations

import functools
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import Direction
from rest_framework import serializers

from api.conditional import ETAG_HEADER
from api.problems import PROBLEM_CONTENT_TYPE
from api.serializers import NewPasswordField, StrictInputMixin

# What text inputs accept, as OpenAPI patterns (no look-arounds, no flags: the
# dialect is ECMA 262's). Django and DRF refuse NUL characters anywhere (PostgreSQL
# cannot store them), and a field that may not be blank is blank once trimmed of
# everything Python's str.strip() removes.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_TEXT_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
# Where a field allows blank, drf-spectacular adds "" as a oneOf alternative of its
# own, so the pattern must not match "" as well.
_NON_EMPTY_TEXT_PATTERN = r"^[^\x00]+$"
# Django's EmailValidator. OpenAPI's "email" format differs both ways: it takes
# "a@b.c" (Django wants a TLD of two letters, or punycode) and refuses quoted local
# parts that Django takes. A dot-atom or quoted local part (Django's case-insensitive
# [A-Z] also matches four non-ASCII letters), then "localhost" or a host name. Left
# out, though Django takes them: IP literals, and host names in other scripts
# (generating from \xa1-\uffff is very slow). What the pattern allows is accepted.
_ATEXT = r"-!#$%&'*+/=?^_`{}|~0-9A-Za-z\u0130\u0131\u017f\u212a"
_QUOTED = (
    r'"([\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]'
    r'|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*"'
)
_LETTER = "a-zA-Z"
_LABEL = rf"[{_LETTER}0-9]([{_LETTER}0-9-]{{0,61}}[{_LETTER}0-9])?"
_TLD = rf"[{_LETTER}][{_LETTER}-]{{0,61}}[{_LETTER}]|xn--[a-zA-Z0-9]{{1,59}}"
EMAIL_PATTERN = (
    rf"^([{_ATEXT}]+(\.[{_ATEXT}]+)*|{_QUOTED})@(localhost|({_LABEL}\.)+({_TLD}))$"
)


def _class_items(codes: list[int]) -> str:
    """Code points as the items of a character class, runs as ranges.

    ECMA 262 without the "u" flag has no escape for a code point past U+FFFF, so
    those stand as themselves (Python and the "u" dialect read them alike).
    """

    def item(code: int) -> str:
        return chr(code) if code > 0xFFFF else f"\\u{code:04x}"

    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return "".join(
        item(first) if first == last else f"{item(first)}-{item(last)}"
        for first, last in runs
    )


@functools.cache
def not_numeric_text_pattern() -> str:
    """Text with no NUL and a character that ``str.isdigit()`` refuses.

    NumericPasswordValidator refuses a password made of digits only, in Python's
    sense: "0-9" and every other script's digits, superscripts, circled digits.
    """
    digits = [c for c in range(sys.maxunicode + 1) if chr(c).isdigit()]
    other = rf"[^\x00{_class_items(digits)}]"
    return rf"^[^\x00]*{other}[^\x00]*$"


def password_schema() -> dict[str, Any]:
    """What ``AUTH_PASSWORD_VALIDATORS`` enforce, as far as JSON Schema can say it.

    The minimum length is ``minLength`` (both count code points), a numeric-only
    password is outside ``pattern``; the rest (not common, not like the account's
    email or name) is the description, and a 400 naming the field.
    """
    schema: dict[str, Any] = {"minLength": 1, "pattern": _NON_EMPTY_TEXT_PATTERN}
    validators = password_validation.get_default_password_validators()
    for validator in validators:
        if isinstance(validator, password_validation.MinimumLengthValidator):
            schema["minLength"] = max(schema["minLength"], validator.min_length)
        elif isinstance(validator, password_validation.NumericPasswordValidator):
            schema["pattern"] = not_numeric_text_pattern()
    rules = password_validation.password_validators_help_texts(validators)
    schema["description"] = " ".join(
        ["The password policy:", *(str(rule) for rule in rules)]
    )
    return schema


# What the date-time format cannot bound (it allows any offset on any day).
DATE_TIME_RANGE = "An instant outside years 1-9999 once in UTC is a 400."


class ProblemErrorSerializer(serializers.Serializer[Any]):
    field = serializers.CharField(help_text="Dotted path of the offending field.")
    pointer = serializers.CharField(help_text="JSON pointer into the request body.")
    message = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemErrorSerializer(many=True, required=False)  # type: ignore[assignment]


_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field or parameter.",
    401: "Missing, invalid or expired credentials.",
    404: "No such resource for this user.",
    409: (
        "Conflicts with what is stored (a name already in use, a limit reached), or "
        "a request with this Idempotency-Key is still running (retry shortly)."
    ),
    411: "A chunked body, without Content-Length, is not accepted.",
    412: "If-Match does not match the current ETag.",
    413: "Request body over {limit} bytes (the Content-Length says so).",
    415: "The body is not JSON.",
    422: "This Idempotency-Key was used for a different request.",
    429: "Too many requests; see Retry-After.",
}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the problem responses each operation can give."""

    def _problem_codes(self) -> set[int]:
        codes = {429}
        method = self.method.upper()
        if self.view.get_authenticators() or self._requires_auth():
            codes.add(401)
        # DRF answers 401 (not 403) wherever the view names a WWW-Authenticate
        # challenge: that includes the login and refresh views, which reject
        # credentials without authenticating the request.
        request = getattr(self.view, "request", None)
        if request is not None and self.view.get_authenticate_header(request):
            codes.add(401)
        if method in {"POST", "PUT", "PATCH", "DELETE"}:
            codes |= {400, 411, 413, 415}
        # A view lists the problems of its own writes (e.g. 409) in write_problems.
        if method in {"POST", "PUT", "PATCH"}:
            codes |= set(getattr(self.view, "write_problems", ()))
        if method == "GET" and self._is_list_view():
            codes.add(400)
        if "{" in self.path:
            codes.add(404)
        if any(
            p.get("name") == "If-Match"
            for p in self._get_parameters()
            if isinstance(p, dict)
        ):
            codes.add(412)
        if any(
            p.get("name") == "Idempotency-Key"
            for p in self._get_parameters()
            if isinstance(p, dict)
        ):
            codes |= {409, 422}
        return codes

    def _requires_auth(self) -> bool:
        return any(
            getattr(p, "__class__", type(p)).__name__ == "IsAuthenticated"
            for p in self.view.get_permissions()
        )

    def _get_request_body(
        self, direction: Direction = "request"
    ) -> dict[str, Any] | None:
        if self.method.upper() != "DELETE":
            body = super()._get_request_body(direction)
            declared = force_instance(self.get_request_serializer())
            if body is not None and getattr(declared, "openapi_request_extra", {}).get(
                "minProperties"
            ):
                # All its fields are optional, yet it needs one: so it needs a body.
                body["required"] = True
            return body
        # drf-spectacular documents bodies for PUT, PATCH and POST only; a DELETE that
        # declares its own request serializer (deleting the account needs the
        # password) takes that body, and needs it.
        declared = force_instance(self.get_request_serializer())
        default = force_instance(self._get_serializer())
        if declared is None or type(declared) is type(default):
            return None
        component = self.resolve_serializer(declared, direction)
        content = {media: {"schema": component.ref} for media in self.map_parsers()}
        return {"content": content, "required": True}

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.DateTimeField):
            schema["description"] = " ".join(
                filter(None, [schema.get("description"), DATE_TIME_RANGE])
            )
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            if isinstance(field, NewPasswordField):
                schema.update(password_schema())
            elif isinstance(field, serializers.EmailField):
                schema["pattern"] = EMAIL_PATTERN
            elif field.trim_whitespace and not field.allow_blank:
                schema["pattern"] = NOT_BLANK_TEXT_PATTERN
            else:
                schema["pattern"] = _NON_EMPTY_TEXT_PATTERN
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        if isinstance(field, serializers.EmailField):
            # Django's validator decides, not the "email" format (EMAIL_PATTERN).
            schema.pop("format", None)

    def _postprocess_serializer_schema(
        self, schema: dict[str, Any], serializer: Any, direction: str
    ) -> dict[str, Any]:
        read_only = {
            name: prop
            for name, prop in schema.get("properties", {}).items()
            if prop.get("readOnly")
        }
        schema = super()._postprocess_serializer_schema(schema, serializer, direction)
        if direction == "request" and isinstance(serializer, StrictInputMixin):
            # The input refuses unknown keys, and ignores the read-only ones that a
            # representation sent back carries (readOnly: "SHOULD be ignored").
            schema.setdefault("properties", {}).update(read_only)
            schema["additionalProperties"] = False
        if direction == "request":
            # What the fields cannot say, e.g. "exactly one of": a serializer's
            # openapi_request_extra (keywords of the object's schema).
            schema.update(getattr(serializer, "openapi_request_extra", {}))
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        conditional = {
            p.get("name")
            for p in operation.get("parameters", [])
            if p.get("in") == "header"
        } & {"If-Match", "If-None-Match"}
        if conditional:
            # What a conditional request compares with: every answer that is or
            # describes the resource carries its ETag.
            for code, response in responses.items():
                if code in {"200", "201", "304"}:
                    response.setdefault("headers", {}).update(ETAG_HEADER)
        for code in sorted(self._problem_codes()):
            if str(code) in responses:
                continue
            response = self._get_response_for_code(
                ProblemSerializer, str(code), media_types=[PROBLEM_CONTENT_TYPE]
            )
            response["description"] = _DESCRIPTIONS[code].format(
                limit=settings.API_MAX_BODY_BYTES
            )
            responses[str(code)] = response
        return operation
