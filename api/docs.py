"""The documentation pages, fit for a strict Content-Security-Policy.

drf-spectacular's stock pages configure Swagger UI and Redoc with inline scripts and
style blocks, and its Redoc page loads fonts from Google. These serve the same UIs
(from drf-spectacular-sidecar's static files) with every script and stylesheet a file
of this origin, so no page needs 'unsafe-inline' for scripts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

from api.middleware import build_policy


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI; its set-up script is served by this view at ``?script``."""

    template_name = "api/swagger_ui.html"


class RedocView(SpectacularRedocView):
    """Redoc, configured by its ``<redoc spec-url>`` element, not by a script.

    Redoc styles itself with styled-components, which writes ``<style>`` elements
    with generated rules at run time: no hash or nonce can name them in advance. So
    this page alone (its own policy, which the middleware keeps) adds
    'unsafe-inline' to ``style-src``; scripts stay ``'self'`` only, and a style
    cannot run code. Its search index runs in a worker that Redoc's own script
    builds from a ``blob:`` URL, hence ``blob:`` in ``worker-src``.

    Redoc's sidebar footer always shows a Redocly logo from Redocly's CDN; the
    policy blocks it (``img-src``), so the page makes no request elsewhere.
    """

    template_name = "api/redoc.html"

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        directives: dict[str, list[str]] = dict(settings.SECURE_CSP)
        if directives:
            default = directives.get("default-src", [])
            for name, extra in (
                ("style-src", "'unsafe-inline'"),
                ("worker-src", "blob:"),
            ):
                directives[name] = [*directives.get(name, default), extra]
            response["Content-Security-Policy"] = build_policy(directives)
        return response
