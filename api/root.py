"""The API root: where a newcomer (person or client) finds everything else.

Served at ``/`` and ``/api/v1/``. Public, reads no credentials and no database, so
it answers with the same links during an outage and whatever token a client holds.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAcceptable
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.renderers import JSONRenderer

# (key, URL name) of every link, in the order a newcomer needs them.
AUTH_LINKS = (
    ("register", "accounts:register"),
    ("token", "accounts:token"),
    ("token_refresh", "accounts:token-refresh"),
    ("logout", "accounts:logout"),
    ("me", "accounts:me"),
    ("password", "accounts:password"),
)


class ApiRootView(APIView):
    """The API's name, version and an absolute link to every entry point."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        """Negotiate as every API view does, but answer JSON rather than 406 for
        any Accept: a browser that asks only for text/html where the browsable API
        is off (every setting but DEBUG) still gets the links instead of an error.
        An unknown ``?format=`` stays DRF's 404."""
        try:
            return super().perform_content_negotiation(request, force)
        except NotAcceptable:
            renderer = JSONRenderer()
            return renderer, renderer.media_type

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(api_root(request))


def api_root(request: HttpRequest) -> dict[str, Any]:
    """The root document for ``request``'s host and scheme."""

    def link(name: str) -> str:
        return request.build_absolute_uri(reverse(name))

    spectacular = settings.SPECTACULAR_SETTINGS
    return {
        "name": spectacular["TITLE"],
        "version": spectacular["VERSION"],
        "description": spectacular["DESCRIPTION"],
        "links": {
            "self": link("api-root"),
            "docs": link("docs"),
            "redoc": link("redoc"),
            "schema": link("schema"),
            "health": {"live": link("healthz"), "ready": link("readyz")},
            "auth": {key: link(name) for key, name in AUTH_LINKS},
            "tasks": link("todos:task-list"),
        },
    }
