"""OpenAPI generation: every operation documents the problems it can answer with."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import Direction
from rest_framework import serializers

from api.problems import PROBLEM_CONTENT_TYPE
from api.serializers import StrictInputMixin

# What text inputs accept, as OpenAPI patterns (no look-arounds, no flags: the
# dialect is ECMA 262's). Django and DRF refuse NUL characters anywhere (PostgreSQL
# cannot store them), and a field that may not be blank is blank once trimmed of
# everything Python's str.strip() removes.
_WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_TEXT_PATTERN = rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"
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
    409: "A request with this Idempotency-Key is still running; retry shortly.",
    412: "If-Match does not match the current ETag.",
    413: "Request body over 1 MiB.",
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
            codes |= {400, 413, 415}
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
            return super()._get_request_body(direction)
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
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            if isinstance(field, serializers.EmailField):
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
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in sorted(self._problem_codes()):
            if str(code) in responses:
                continue
            response = self._get_response_for_code(
                ProblemSerializer, str(code), media_types=[PROBLEM_CONTENT_TYPE]
            )
            response["description"] = _DESCRIPTIONS[code]
            responses[str(code)] = response
        return operation
