"""Conditional requests (RFC 9110 §13): ETags, If-Match and If-None-Match.

A resource with a ``version`` that moves on every change has the strong validator
``"<pk>.<version>"``. Writes honour ``If-Match`` (412 when it no longer matches),
reads honour ``If-None-Match`` (304).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since you read it (If-Match failed)."
    default_code = "precondition_failed"


def etag_for(obj: Any) -> str:
    """A strong validator that changes whenever the object does."""
    return f'"{obj.pk}.{obj.version}"'


def etag_matches(header: str, obj: Any) -> bool:
    """Whether an If-Match / If-None-Match header value names ``obj``'s ETag."""
    tags = parse_etags(header)
    return "*" in tags or etag_for(obj) in tags


def expected_version(request: HttpRequest, obj: Any) -> int | None:
    """The version an ``If-Match`` request is conditional on, or ``None``.

    Raises :class:`PreconditionFailed` when the header names another version, so
    the write never starts; the services check the version again as they write.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if not etag_matches(header, obj):
        raise PreconditionFailed
    return int(obj.version)


def not_modified(request: HttpRequest, obj: Any) -> bool:
    """Whether a read may answer 304: ``If-None-Match`` still names ``obj``."""
    header = request.headers.get("If-None-Match")
    return header is not None and etag_matches(header, obj)


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Only act if the resource still has this ETag; otherwise 412.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Answer 304 with no body if the resource still has this ETag.",
)
ETAG_HEADER = {
    "ETag": {
        "description": "The resource's current version, for If-Match/If-None-Match.",
        "required": True,
        "schema": {"type": "string", "pattern": r'^"[^"]+"$'},
    }
}
