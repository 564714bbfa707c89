"""OpenAPI generation: every operation documents the problems it can answer with."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from config.api.exceptions import PROBLEM_CONTENT_TYPE


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
    412: "If-Match does not match the current ETag.",
    413: "Request body over 1 MiB.",
    415: "The body is not JSON.",
    429: "Too many requests; see Retry-After.",
}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the problem responses each operation can give."""

    def _problem_codes(self) -> set[int]:
        codes = {429}
        method = self.method.upper()
        if self.view.get_authenticators() or self._requires_auth():
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
        return codes

    def _requires_auth(self) -> bool:
        return any(
            getattr(p, "__class__", type(p)).__name__ == "IsAuthenticated"
            for p in self.view.get_permissions()
        )

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
